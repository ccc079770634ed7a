using Microsoft.Extensions.Time.Testing;

namespace ManycoreMail.Delivery.Tests;

public sealed class IdleDeadlineTests
{
    private static readonly TimeSpan Idle = TimeSpan.FromSeconds(10);

    [Fact]
    public void Each_arm_starts_the_deadline_again_on_the_site_clock()
    {
        var time = new FakeTimeProvider();
        using var deadline = new IdleDeadline(time, CancellationToken.None);

        var first = deadline.Arm(Idle);
        time.Advance(TimeSpan.FromSeconds(9));
        Assert.False(first.IsCancellationRequested);

        // A job arrived; the worker waits again: the old deadline must not cut the new wait short.
        var second = deadline.Arm(Idle);
        time.Advance(TimeSpan.FromSeconds(9));
        Assert.False(second.IsCancellationRequested);
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.True(second.IsCancellationRequested);
    }

    [Fact]
    public void After_a_deadline_passed_the_next_arm_waits_the_full_time()
    {
        var time = new FakeTimeProvider();
        using var deadline = new IdleDeadline(time, CancellationToken.None);
        var spent = deadline.Arm(Idle);
        time.Advance(Idle);
        Assert.True(spent.IsCancellationRequested);

        var fresh = deadline.Arm(Idle);
        Assert.False(fresh.IsCancellationRequested);
        time.Advance(Idle - TimeSpan.FromMilliseconds(1));
        Assert.False(fresh.IsCancellationRequested);
        time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.True(fresh.IsCancellationRequested);
    }

    [Fact]
    public void Stopping_cancels_the_current_wait_and_every_later_one()
    {
        var time = new FakeTimeProvider();
        using var stopping = new CancellationTokenSource();
        using var deadline = new IdleDeadline(time, stopping.Token);
        var waiting = deadline.Arm(Idle);

        stopping.Cancel();

        Assert.True(waiting.IsCancellationRequested);
        Assert.True(deadline.Arm(Idle).IsCancellationRequested);
    }

    [Fact]
    public void A_stop_after_a_deadline_passed_still_reaches_the_next_wait()
    {
        var time = new FakeTimeProvider();
        using var stopping = new CancellationTokenSource();
        using var deadline = new IdleDeadline(time, stopping.Token);
        deadline.Arm(Idle);
        time.Advance(Idle);

        stopping.Cancel();

        Assert.True(deadline.Arm(Idle).IsCancellationRequested);
    }
}
