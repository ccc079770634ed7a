using System.Buffers;
using ManycoreMail.Smtp.Server;

namespace ManycoreMail.Smtp.Internal;

/// <summary>A growable byte buffer made of <see cref="ArrayPool{T}"/> arrays, exposed as a
/// <see cref="ReadOnlySequence{T}"/> without ever copying into one contiguous block. With a
/// <see cref="MemoryBudget"/>, every array it holds is taken from that budget first.</summary>
internal sealed class PooledBody(MemoryBudget? budget = null) : IDisposable
{
    // Small first so tiny messages stay cheap, then doubling up to a size where the per-array
    // overhead no longer matters.
    private const int FirstArraySize = 4 * 1024;
    private const int MaxArraySize = 64 * 1024;

    private readonly List<byte[]> _arrays = [];
    private int _lastUsed;
    private long _taken;

    public long Length { get; private set; }

    /// <summary>Appends <paramref name="data"/>; false when the budget could not cover the next array (part of
    /// the data may then have been appended).</summary>
    public bool Append(ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty)
        {
            if (_arrays.Count == 0 || _lastUsed == _arrays[^1].Length)
            {
                var size = _arrays.Count == 0 ? FirstArraySize : Math.Min(MaxArraySize, _arrays[^1].Length * 2);
                if (budget is not null)
                {
                    if (!budget.TryTake(size))
                    {
                        return false;
                    }

                    _taken += size;
                }

                _arrays.Add(ArrayPool<byte>.Shared.Rent(size));
                _lastUsed = 0;
            }

            var target = _arrays[^1].AsSpan(_lastUsed);
            var count = Math.Min(target.Length, data.Length);
            data[..count].CopyTo(target);
            data = data[count..];
            _lastUsed += count;
            Length += count;
        }

        return true;
    }

    /// <summary>A view over the current content; valid until the next <see cref="Clear"/>.</summary>
    public ReadOnlySequence<byte> ToSequence()
    {
        if (_arrays.Count == 0)
        {
            return ReadOnlySequence<byte>.Empty;
        }

        if (_arrays.Count == 1)
        {
            return new ReadOnlySequence<byte>(_arrays[0], 0, _lastUsed);
        }

        var first = new Segment(_arrays[0], 0);
        var last = first;
        for (var i = 1; i < _arrays.Count; i++)
        {
            var length = i == _arrays.Count - 1 ? _lastUsed : _arrays[i].Length;
            last = last.Append(_arrays[i].AsMemory(0, length));
        }

        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    /// <summary>Returns every array to the pool.</summary>
    public void Clear()
    {
        foreach (var array in _arrays)
        {
            ArrayPool<byte>.Shared.Return(array);
        }

        _arrays.Clear();
        _lastUsed = 0;
        Length = 0;
        budget?.Return(_taken);
        _taken = 0;
    }

    public void Dispose() => Clear();

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
