namespace ManycoreMail.Mime.Tests;

public sealed class EncodedWordsTests
{
    [Theory]
    [InlineData("plain text", "plain text")]
    [InlineData("=?UTF-8?Q?Gr=C3=BC=C3=9Fe_aus_K=C3=B6ln?=", "Grüße aus Köln")]
    [InlineData("Re: =?utf-8?b?w6ljaG8=?= now", "Re: écho now")]
    [InlineData("=?utf-8?q?a?= =?utf-8?q?b?=", "ab")]
    [InlineData("=?utf-8?q?a?= x =?utf-8?q?b?=", "a x b")]
    [InlineData("=?windows-1252?q?=80?=", "€")]
    [InlineData("=?utf-8*en?q?lang?=", "lang")]
    [InlineData("=?x-unknown?q?abc?=", "abc")]
    [InlineData("=?x-unknown?q?caf=E9?=", "café")]
    [InlineData("=?UTF-7?Q?Hi_Mom_-+Jjo--!?=", "Hi Mom -\u263A-!")]
    [InlineData("=?utf-7?B?K0FLTS0x?=", "\u00A31")]
    [InlineData("=?unicode-1-1-utf-7?Q?+AKM-1?= x", "\u00A31 x")]
    [InlineData("=??Q?abc?=", "=??Q?abc?=")]
    [InlineData("=?utf-8?x?abc?=", "=?utf-8?x?abc?=")]
    [InlineData("=?utf-8?q?no end", "=?utf-8?q?no end")]
    [InlineData("=?utf-8?b?w6k?=", "é")]
    public void Decodes(string input, string expected) => Assert.Equal(expected, EncodedWords.Decode(input));
}
