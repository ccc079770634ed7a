namespace ManycoreMail.Classification;

/// <summary>One row of a wording table: a reason and the lower-case phrases (matched as substrings) that state it.</summary>
internal sealed record ReasonRule(string Reason, string[] Phrases);

/// <summary>
/// An ordered table of wordings: the first rule with a phrase in the text names the reason, so more specific
/// meanings come first. Data, not code: a new provider wording or language is a new phrase, never a new branch.
/// </summary>
internal sealed class WordingTable(IReadOnlyList<ReasonRule> rules)
{
    /// <summary>The reason of the first rule (restricted to <paramref name="only"/> when given) whose phrase occurs in
    /// <paramref name="lowerText"/>, or null.</summary>
    public string? Match(string lowerText, IReadOnlySet<string>? only = null)
    {
        foreach (var rule in rules)
        {
            if (only is not null && !only.Contains(rule.Reason))
            {
                continue;
            }
            foreach (var phrase in rule.Phrases)
            {
                if (lowerText.Contains(phrase, StringComparison.Ordinal))
                {
                    return rule.Reason;
                }
            }
        }
        return null;
    }
}

/// <summary>A table from an enhanced status code's subject and detail ("1.1" of "5.1.1") to a reason; the class digit
/// is the permanence's business, not the reason's.</summary>
internal sealed class StatusTable(IReadOnlyDictionary<string, string> bySubjectDetail)
{
    public string? Match(string? status)
    {
        if (status is null || status.Length < 5 || status[1] != '.')
        {
            return null;
        }
        return bySubjectDetail.GetValueOrDefault(status[2..]);
    }
}
