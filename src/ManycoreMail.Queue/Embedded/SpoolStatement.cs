using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace ManycoreMail.Queue.Embedded;

/// <summary>
/// One prepared statement run through SQLite's own API. Microsoft.Data.Sqlite builds a data reader, a statement
/// enumerator and a binder per parameter on every execution; a message passes some fifteen statements on its way
/// through the spool, which made that wrapper a measurable share of the spool's CPU and of the allocation per
/// message. Failures are the same <see cref="SqliteException"/>s the wrapper throws. One user at a time.
/// </summary>
internal sealed class SpoolStatement : IDisposable
{
    private readonly sqlite3 _db;
    private readonly sqlite3_stmt _statement;

    public SpoolStatement(SqliteConnection connection, string sql)
    {
        _db = connection.Handle ?? throw new InvalidOperationException("The connection is not open.");
        Check(raw.sqlite3_prepare_v3(_db, sql, raw.SQLITE_PREPARE_PERSISTENT, out _statement));
    }

    /// <summary>The position of a named parameter (<c>$name</c>), for the Bind calls.</summary>
    public int Parameter(string name)
    {
        var index = raw.sqlite3_bind_parameter_index(_statement, name);
        return index > 0 ? index : throw new ArgumentException($"The statement has no parameter {name}.", nameof(name));
    }

    public SpoolStatement Bind(int index, long value)
    {
        Check(raw.sqlite3_bind_int64(_statement, index, value));
        return this;
    }

    public SpoolStatement Bind(int index, string value)
    {
        Check(raw.sqlite3_bind_text(_statement, index, value));
        return this;
    }

    /// <summary>Binds a copy of <paramref name="value"/> (an empty one as an empty blob, never as NULL).</summary>
    public SpoolStatement Bind(int index, ReadOnlySpan<byte> value)
    {
        Check(value.IsEmpty ? raw.sqlite3_bind_zeroblob(_statement, index, 0) : raw.sqlite3_bind_blob(_statement, index, value));
        return this;
    }

    public SpoolStatement BindNull(int index)
    {
        Check(raw.sqlite3_bind_null(_statement, index));
        return this;
    }

    /// <summary>Runs the statement to its end; returns the rows it changed.</summary>
    public int Execute()
    {
        try
        {
            while (Step())
            {
            }
            return raw.sqlite3_changes(_db);
        }
        finally
        {
            Reset();
        }
    }

    /// <summary>The first column of the first row; null when there is no row or the value is NULL.</summary>
    public long? ScalarInt64()
    {
        try
        {
            return Step() && !IsNull(0) ? Int64(0) : null;
        }
        finally
        {
            Reset();
        }
    }

    /// <summary>True while there is a row to read; call <see cref="Reset"/> when done.</summary>
    public bool Step()
    {
        var result = raw.sqlite3_step(_statement);
        if (result == raw.SQLITE_ROW)
        {
            return true;
        }
        if (result != raw.SQLITE_DONE)
        {
            Check(result);
        }
        return false;
    }

    public long Int64(int column) => raw.sqlite3_column_int64(_statement, column);

    public bool IsNull(int column) => raw.sqlite3_column_type(_statement, column) == raw.SQLITE_NULL;

    /// <summary>Valid until the next step or reset.</summary>
    public ReadOnlySpan<byte> Blob(int column) => raw.sqlite3_column_blob(_statement, column);

    /// <summary>Ready for the next run, without the last one's values (a body bound here is not kept alive).</summary>
    public void Reset()
    {
        raw.sqlite3_reset(_statement);
        raw.sqlite3_clear_bindings(_statement);
    }

    public void Dispose() => _statement.Dispose(); // sqlite3_finalize, before the connection closes

    private void Check(int result)
    {
        if (result != raw.SQLITE_OK)
        {
            SqliteException.ThrowExceptionForRC(result, _db);
        }
    }
}
