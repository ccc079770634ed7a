namespace ManycoreMail.Mime.Tests;

public sealed class ContentTypeTests
{
    [Fact]
    public void Parses_type_subtype_and_parameters()
    {
        var type = ContentType.Parse("Multipart/Alternative; BOUNDARY=\"a; b\\\"c\" ; charset=utf-8 (comment)")!;
        Assert.Equal("multipart", type.MediaType);
        Assert.Equal("alternative", type.MediaSubtype);
        Assert.True(type.IsMultipart);
        Assert.Equal("a; b\"c", type.GetParameter("boundary"));
        Assert.Equal("utf-8", type.GetParameter("Charset"));
    }

    [Fact]
    public void Unquoted_boundary_with_tspecials_is_accepted()
    {
        Assert.Equal("----=_Part_1/2", ContentType.Parse("multipart/mixed; boundary=----=_Part_1/2")!.GetParameter("boundary"));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("text")]
    [InlineData("text/")]
    public void Invalid_is_null(string? value) => Assert.Null(ContentType.Parse(value));
}
