using ManycoreMail.AutoSuppression;
using ManycoreMail.Suppression;

namespace ManycoreMail.Tests.AutoSuppression;

public sealed class AutomaticEntriesTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 6, 4, 0, 0, TimeSpan.Zero);

    [Theory]
    [InlineData("hard", "userunknown", true)]
    [InlineData("unroutable", "hostunknown", true)]
    [InlineData("hard", "hostunknown", true)]
    [InlineData("soft", "userunknown", false)]
    [InlineData("hard", "mailboxfull", false)]
    [InlineData("hard", "filtered", false)]
    [InlineData("autoreply", "userunknown", false)]
    public void Only_a_final_bounce_of_an_address_or_domain_that_does_not_exist_suppresses(string type, string reportClass, bool suppresses)
    {
        var entry = AutomaticEntries.ForBounce("Gone@X.test", type, reportClass, Now);

        if (suppresses)
        {
            Assert.NotNull(entry);
            Assert.Equal(("gone@x.test", SuppressionScope.Global, "", SuppressionReason.Bounce), (entry.Email, entry.Scope, entry.Value, entry.Reason));
        }
        else
        {
            Assert.Null(entry);
        }
    }

    [Theory]
    [InlineData("abuse", true)]
    [InlineData(null, true)]
    [InlineData("fraud", true)]
    [InlineData("auth-failure", false)]
    [InlineData("not-spam", false)]
    public void A_spam_report_suppresses_globally_unless_it_is_no_complaint(string? feedbackType, bool suppresses)
    {
        var entry = AutomaticEntries.ForComplaint("complainer@ok.test", feedbackType, Now);

        Assert.Equal(suppresses, entry is { Scope: SuppressionScope.Global, Reason: SuppressionReason.Complaint, Email: "complainer@ok.test" });
    }

    [Fact]
    public void A_report_without_an_address_suppresses_nothing()
    {
        Assert.Null(AutomaticEntries.ForComplaint(null, "abuse", Now));
        Assert.Null(AutomaticEntries.ForBounce("not-an-address", "hard", "userunknown", Now));
    }
}
