namespace ManycoreMail.Mime.Tests;

internal static class Fixture
{
    public static byte[] Bytes(string name) => ManycoreMail.TestSupport.TestData.Fixture(name);

    public static MessageHeaders Parse(byte[] message)
    {
        Assert.True(MessageHeaders.TryParse(message, out var headers, out var error), error);
        return headers;
    }

    public static MessageHeaders Parse(string message) => Parse(System.Text.Encoding.UTF8.GetBytes(message));
}
