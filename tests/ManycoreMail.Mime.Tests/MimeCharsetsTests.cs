using System.Text;

namespace ManycoreMail.Mime.Tests;

public sealed class MimeCharsetsTests
{
    [Theory]
    [InlineData("utf-7")]
    [InlineData("UTF-7")]
    [InlineData("unicode-1-1-utf-7")]
    [InlineData("csUnicode11UTF7")]
    [InlineData("utf-7*en")]
    public void Utf7_is_read(string name)
    {
        Assert.True(MimeCharsets.TryGetEncoding(name, out var encoding));
        Assert.Equal("Hi Mom -\u263A-!", encoding.GetString("Hi Mom -+Jjo--!"u8));
    }

    [Theory]
    [InlineData("x-unknown")]
    [InlineData("cp-850")]
    [InlineData("utf-8\0")]
    [InlineData("*")]
    [InlineData("é")]
    [InlineData("\"")]
    [InlineData("=?")]
    [InlineData("unicode-2-0-utf-7-x")]
    public void An_unknown_name_is_reported_not_thrown(string name) =>
        Assert.False(MimeCharsets.TryGetEncoding(name, out _));

    [Fact]
    public void An_unknown_label_reads_utf8_when_the_bytes_are_utf8_and_latin1_otherwise()
    {
        Assert.Equal("café", MimeCharsets.Decode("café"u8, "x-unknown"));
        Assert.Equal("café", MimeCharsets.Decode([0x63, 0x61, 0x66, 0xE9], "x-unknown"));
        Assert.Equal("café", MimeCharsets.Decode([0x63, 0x61, 0x66, 0xE9], null));
    }

    [Fact]
    public void Known_labels_decode_with_their_own_charset()
    {
        Assert.Equal("€", MimeCharsets.Decode([0x80], "windows-1252"));
        Assert.Equal("Ж", MimeCharsets.Decode([0xF6], "koi8-r"));
        Assert.Equal("A", MimeCharsets.Decode(Encoding.Unicode.GetBytes("A"), "utf-16le"));
    }

    [Fact]
    public void Every_byte_string_decodes_under_every_label_without_throwing()
    {
        var random = new Random(2152);
        string?[] labels = [null, "", "utf-7", "utf-8", "utf-16", "utf-32", "iso-2022-jp", "shift_jis", "gb2312", "big5", "euc-kr", "x-unknown", "us-ascii"];
        var bytes = new byte[64];
        for (var i = 0; i < 2_000; i++)
        {
            random.NextBytes(bytes);
            foreach (var label in labels)
            {
                Assert.NotNull(MimeCharsets.Decode(bytes.AsSpan(0, random.Next(bytes.Length)), label));
            }
        }
    }
}
