namespace ManycoreMail.Templates.Tests;

public sealed class TemplateNamesTests
{
    [Theory]
    [InlineData("welcome", "welcome", null)]
    [InlineData("welcome@3", "welcome", 3)]
    [InlineData("a.b-c_D9@12", "a.b-c_D9", 12)]
    public void A_reference_names_a_template_and_an_optional_version(string reference, string name, int? version)
    {
        Assert.True(TemplateNames.TryParseReference(reference, out var parsedName, out var parsedVersion));
        Assert.Equal(name, parsedName);
        Assert.Equal(version, parsedVersion);
    }

    [Theory]
    [InlineData("")]
    [InlineData("@1")]
    [InlineData("welcome@")]
    [InlineData("welcome@0")]
    [InlineData("welcome@-1")]
    [InlineData("welcome@+1")]
    [InlineData("welcome@1x")]
    [InlineData("welcome@99999999999")]
    [InlineData("wel come")]
    [InlineData("wel/come")]
    [InlineData("wélcome")]
    public void A_bad_reference_is_refused(string reference)
    {
        Assert.False(TemplateNames.TryParseReference(reference, out _, out _));
    }

    [Fact]
    public void Names_are_at_most_100_characters()
    {
        Assert.True(TemplateNames.IsValid(new string('a', 100)));
        Assert.False(TemplateNames.IsValid(new string('a', 101)));
        Assert.Throws<ArgumentException>(() => TemplateNames.Validate(new string('a', 101)));
    }
}
