using ManycoreMail.Classification;

namespace ManycoreMail.Roles.MxServer;

/// <summary><c>mailer classify PATH...</c>: the MX server's classifier on files, one JSON line per file; a folder stands for
/// every file under it (Maildir files have no extension), in name order. A file that cannot be read or classified gets
/// a line with an <c>error</c> field (and a note on the error stream) and the rest are still classified; the exit code
/// is 1 when any file failed. Progress goes to the error stream when a <see cref="ClassifyProgress"/> is given.</summary>
internal static class ClassifyCommand
{
    public static int Run(IReadOnlyList<string> paths, TextWriter output, TextWriter errors, ClassifyProgress? progress = null)
    {
        var files = Expand(paths);
        progress?.Start(files.Count);
        var classifier = new MailClassifier();
        var exitCode = 0;
        foreach (var file in files)
        {
            if (!ClassifyOne(classifier, file, output, errors))
            {
                exitCode = 1;
            }
            progress?.Advance();
        }
        progress?.Finish();
        return exitCode;
    }

    private static bool ClassifyOne(MailClassifier classifier, string file, TextWriter output, TextWriter errors)
    {
        string? error;
        try
        {
            output.WriteLine(ClassificationJson.Format(file, classifier.Classify(File.ReadAllBytes(file))));
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException or ArgumentException)
        {
            // Missing, not readable, not a valid path.
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
        return false;
    }

    /// <summary>The paths with each folder replaced by the files under it. Anything else (a missing path included) is
    /// kept as given, so it gets its own error line.</summary>
    private static List<string> Expand(IReadOnlyList<string> paths)
    {
        var files = new List<string>(paths.Count);
        foreach (var path in paths)
        {
            if (Directory.Exists(path))
            {
                files.AddRange(Directory.EnumerateFiles(path, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal));
            }
            else
            {
                files.Add(path);
            }
        }
        return files;
    }
}
