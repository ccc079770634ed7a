using System.Net;
using System.Text.Json;

namespace ManycoreMail.IntegrationTests;

/// <summary>What the HTTP API's JSON answers must look like, for the tests of its endpoints.</summary>
internal static class ApiAnswers
{
    /// <summary>Asserts an <c>application/json</c> answer with <paramref name="status"/> and returns its document.</summary>
    public static async Task<JsonElement> JsonAsync(HttpResponseMessage response, HttpStatusCode status) =>
        await ReadAsync(response, status, "application/json");

    /// <summary>Asserts a problem+json answer with <paramref name="status"/> naming <paramref name="field"/>, and returns it.</summary>
    public static async Task<JsonElement> ProblemAsync(HttpResponseMessage response, HttpStatusCode status, string field)
    {
        var problem = await ReadAsync(response, status, "application/problem+json");
        Assert.Equal(field, problem.GetProperty("field").GetString());
        return problem;
    }

    private static async Task<JsonElement> ReadAsync(HttpResponseMessage response, HttpStatusCode status, string mediaType)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == status, $"{response.StatusCode}: {body}");
        Assert.Equal(mediaType, response.Content.Headers.ContentType?.MediaType);
        using var json = JsonDocument.Parse(body);
        return json.RootElement.Clone();
    }
}
