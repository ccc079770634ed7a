using ManycoreMail.Classification;

namespace ManycoreMail.Roles.MxServer;

/// <summary><c>mailer classify FILE...</c>: the MX server's classifier on files, one JSON line per file.</summary>
internal static class ClassifyCommand
{
    public static int Run(IReadOnlyList<string> files, TextWriter output, TextWriter errors)
    {
        var classifier = new MailClassifier();
        var exitCode = 0;
        foreach (var file in files)
        {
            byte[] message;
            try
            {
                message = File.ReadAllBytes(file);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                errors.WriteLine($"{file}: {e.Message}");
                exitCode = 1;
                continue;
            }
            output.WriteLine(ClassificationJson.Format(file, classifier.Classify(message)));
        }
        return exitCode;
    }
}
