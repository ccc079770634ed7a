namespace ManycoreMail.TestSupport;

/// <summary>Waiting on a condition with a deadline: the only way tests synchronise with peers.</summary>
public static class Eventually
{
    public static async Task<T> GetAsync<T>(Func<Task<T?>> probe, TimeSpan timeout, string what) where T : class
    {
        var deadline = DateTime.UtcNow + timeout;
        var pause = TimeSpan.FromMilliseconds(10);
        while (true)
        {
            var value = await probe().ConfigureAwait(false);
            if (value is not null)
            {
                return value;
            }
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Timed out after {timeout.TotalSeconds:0.#} s waiting for {what}");
            }
            await Task.Delay(pause).ConfigureAwait(false);
            pause = TimeSpan.FromMilliseconds(Math.Min(pause.TotalMilliseconds * 2, 200));
        }
    }

    public static Task TrueAsync(Func<bool> condition, TimeSpan timeout, string what) =>
        GetAsync(() => Task.FromResult(condition() ? new object() : null), timeout, what);

    public static Task TrueAsync(Func<Task<bool>> condition, TimeSpan timeout, string what) =>
        GetAsync(async () => await condition().ConfigureAwait(false) ? new object() : null, timeout, what);
}
