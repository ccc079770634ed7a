using ManycoreMail.TestSupport;

namespace ManycoreMail.Classification.Tests;

/// <summary>
/// A test that needs the full research corpus (shared/corpus beside the repository): part of it is LGPL or
/// Perl-licensed and cannot ship with the project, so without it the test is reported as skipped, saying why.
/// </summary>
public sealed class SharedCorpusFactAttribute : FactAttribute
{
    public SharedCorpusFactAttribute()
    {
        if (TestData.SharedCorpus is null)
        {
            Skip = "needs ../shared/corpus/public beside the repository (its LGPL and Perl-licensed mails are not bundled)";
        }
    }
}
