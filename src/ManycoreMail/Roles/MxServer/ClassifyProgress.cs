using System.Diagnostics;
using System.Globalization;

namespace ManycoreMail.Roles.MxServer;

/// <summary>How far <c>mailer classify</c> has got, on the error stream so the JSON lines on the output stay clean. On a
/// terminal a bar redrawn in place (at most every 100 ms: redrawing per mail would cost more than classifying it); when
/// redirected, a plain line at every tenth, which a log keeps readable.</summary>
internal sealed class ClassifyProgress(TextWriter writer, bool terminal)
{
    private const int BarWidth = 30;
    private static readonly TimeSpan RedrawEvery = TimeSpan.FromMilliseconds(100);

    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private TimeSpan? _drawnAt;
    private int _total;
    private int _done;
    private int _nextTenth;

    public void Start(int total)
    {
        _total = total;
        _nextTenth = 1;
    }

    public void Advance()
    {
        _done++;
        if (terminal)
        {
            if (_drawnAt is null || _clock.Elapsed - _drawnAt >= RedrawEvery || _done == _total)
            {
                _drawnAt = _clock.Elapsed;
                writer.Write('\r' + Bar());
            }
        }
        else if (_total > 0 && _done * 10L >= _nextTenth * (long)_total)
        {
            _nextTenth = (int)(_done * 10L / _total) + 1;
            writer.WriteLine(Line());
        }
    }

    public void Finish()
    {
        if (terminal && _done > 0)
        {
            writer.Write('\r' + Bar() + Environment.NewLine);
        }
        writer.Flush();
    }

    private string Bar()
    {
        var filled = _total == 0 ? BarWidth : (int)((long)_done * BarWidth / _total);
        return string.Create(CultureInfo.InvariantCulture,
            $"[{new string('#', filled)}{new string('.', BarWidth - filled)}] {_done}/{_total} mails, {Rate():F0}/s");
    }

    private string Line() => string.Create(CultureInfo.InvariantCulture,
        $"classify: {_done}/{_total} mails ({100L * _done / Math.Max(1, _total)}%), {Rate():F0}/s");

    private double Rate() => _done / Math.Max(_clock.Elapsed.TotalSeconds, 1e-3);
}
