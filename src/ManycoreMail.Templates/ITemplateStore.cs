namespace ManycoreMail.Templates;

/// <summary>Versioned templates. Versions of a name count up from 1; a put never changes an existing version.</summary>
public interface ITemplateStore : IAsyncDisposable
{
    /// <summary>Stores <paramref name="content"/> as the next version of <paramref name="name"/> and returns its number.</summary>
    Task<int> PutAsync(string name, TemplateContent content, CancellationToken cancellationToken);

    /// <summary>The given version, or the latest when <paramref name="version"/> is null; null when there is none.</summary>
    Task<StoredTemplate?> GetAsync(string name, int? version, CancellationToken cancellationToken);

    /// <summary>Every name with its latest version, in name order.</summary>
    Task<IReadOnlyList<TemplateSummary>> ListAsync(CancellationToken cancellationToken);

    /// <summary>Deletes every version of <paramref name="name"/>; false when there was none.</summary>
    Task<bool> DeleteAsync(string name, CancellationToken cancellationToken);
}
