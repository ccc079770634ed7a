using System.Diagnostics;
using System.Globalization;
using System.Text;
using ManycoreMail.Compose;
using ManycoreMail.Mime;
using ManycoreMail.Templates;

// dotnet run -c Release --project bench/ManycoreMail.TemplateBench [-- SECONDS]
// Renders per second of a template of about 10 KB (text and html parts) with 20 variables, as the JSON send API renders
// each recipient's message; then the same with composing the MIME message, the rest of the API's work per recipient.
var seconds = args.Length > 0 ? double.Parse(args[0], CultureInfo.InvariantCulture) : 3;
const int Variables = 20;
var text = new StringBuilder();
var html = new StringBuilder("<html><body>\n");
for (var line = 0; text.Length + html.Length < 10 * 1024; line++)
{
    var name = "v" + (line % Variables).ToString(CultureInfo.InvariantCulture);
    text.Append("Line ").Append(line).Append(": dear {{").Append(name).Append("}}, your order is on its way.\n");
    html.Append("<p style=\"margin:0\">Line ").Append(line).Append(": dear <b>{{").Append(name).Append("}}</b>, your order is on its way.</p>\n");
}
html.Append("</body></html>\n");
var template = new TemplateContent("Hello {{v0}}", text.ToString(), html.ToString());
var values = Enumerable.Range(0, Variables).ToDictionary(i => "v" + i.ToString(CultureInfo.InvariantCulture), i => (object?)$"Value <{i}> & more");
var renderer = new TemplateRenderer();
var composer = new MessageComposer(TimeProvider.System);
var request = new SendRequest
{
    From = new MailboxAddress("News", "news@example.com"),
    Recipients = [new SendRecipient(new MailboxAddress(null, "a@example.net"), "bench1", new Dictionary<string, string>())],
};

Console.WriteLine($"template: {Encoding.UTF8.GetByteCount(template.Text!) + Encoding.UTF8.GetByteCount(template.Html!)} bytes (text + html), {Variables} variables");
Measure("render", () =>
{
    var rendered = renderer.Render(template, values, strict: true);
    return rendered.Text!.Length + rendered.Html!.Length;
});
Measure("render + compose", () =>
{
    var rendered = renderer.Render(template, values, strict: true);
    return composer.Compose(request, request.Recipients[0], new RenderedContent(rendered.Subject, rendered.Text, rendered.Html)).Bytes.Length;
});

void Measure(string what, Func<int> once)
{
    // Warm up (JIT, the parse cache) for a second, then count for the given time.
    var warmup = Stopwatch.StartNew();
    while (warmup.Elapsed < TimeSpan.FromSeconds(1))
    {
        once();
    }
    long count = 0, bytes = 0;
    var stopwatch = Stopwatch.StartNew();
    while (stopwatch.Elapsed < TimeSpan.FromSeconds(seconds))
    {
        bytes += once();
        count++;
    }
    Console.WriteLine($"{what}: {count / stopwatch.Elapsed.TotalSeconds:F0} per second on one thread ({bytes / count} characters or bytes out each)");
}
