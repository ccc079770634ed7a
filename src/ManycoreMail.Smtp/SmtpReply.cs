namespace ManycoreMail.Smtp;

/// <summary>An SMTP reply: code, enhanced status code (RFC 3463, may be null for 220/221 greetings) and text.</summary>
public readonly record struct SmtpReply(int Code, string? EnhancedStatus, string Text)
{
    public bool IsPositive => Code is >= 200 and < 400;
    public bool IsTransientFailure => Code is >= 400 and < 500;
    public bool IsPermanentFailure => Code >= 500;

    public static SmtpReply Ok(string text = "OK") => new(250, "2.0.0", text);

    public override string ToString() => EnhancedStatus is null ? $"{Code} {Text}" : $"{Code} {EnhancedStatus} {Text}";
}
