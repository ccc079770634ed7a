using ManycoreMail.Classification;

namespace ManycoreMail.Roles.MxServer;

/// <summary><c>mailer classify FILE...</c>: the MX server's classifier on files, one JSON line per file. A file
/// that cannot be read or classified gets a line with an <c>error</c> field (and a note on the error stream) and
/// the rest are still classified; the exit code is 1 when any file failed.</summary>
internal static class ClassifyCommand
{
    public static int Run(IReadOnlyList<string> files, TextWriter output, TextWriter errors)
    {
        var classifier = new MailClassifier();
        var exitCode = 0;
        foreach (var file in files)
        {
            string? error;
            try
            {
                output.WriteLine(ClassificationJson.Format(file, classifier.Classify(File.ReadAllBytes(file))));
                continue;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException or ArgumentException)
            {
                // Missing, a directory, not readable, not a valid path.
                error = e.Message;
            }
            catch (Exception e)
            {
                // The classifier is meant to be total (ClassifierFuzzTests); if it is not, one file still must not
                // cost the answers for the others.
                error = $"cannot classify: {e.GetType().Name}: {e.Message}";
            }
            output.WriteLine(ClassificationJson.FormatError(file, error));
            errors.WriteLine($"{file}: {error}");
            exitCode = 1;
        }
        return exitCode;
    }
}
