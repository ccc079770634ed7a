using ManycoreMail.Compose;
using ManycoreMail.Hosting;
using ManycoreMail.Ingress;
using ManycoreMail.Templates;

namespace ManycoreMail.Sending;

/// <summary>What a send renders: its template's parts with the request's own subject, text or html over them, or the
/// problem with its <c>template</c> field.</summary>
internal sealed record SendContent(TemplateContent? Parts, SendRequestError? Error);

/// <summary>One recipient's composed message and what the ingress rules made of it.</summary>
internal sealed record RecipientMessage(ComposedMessage Message, IngressMessage Accepted);

/// <summary>
/// Renders and composes a JSON send, one recipient at a time: for <c>POST /v1/messages</c> now, and for a held send at
/// its time (<see cref="IHeldSendComposer"/>), so both paths build the same message from the same request.
/// </summary>
internal sealed class SendComposer(TemplateStores templates, TemplateRenderer renderer, MessageComposer composer, SendRequestParser parser)
    : IHeldSendComposer
{
    /// <summary>The parts to render: the template's (latest, or the version named) under the request's own parts.
    /// Throws only when the template store cannot answer.</summary>
    public async Task<SendContent> ResolveAsync(SendRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var own = new TemplateContent(request.Subject, request.Text, request.Html);
        if (request.Template is null)
        {
            return new SendContent(own, null);
        }
        if (!TemplateNames.TryParseReference(request.Template, out var name, out var version))
        {
            return Refused($"'{request.Template}' is not a template reference (name or name@version)");
        }
        var store = await templates.GetAsync(cancellationToken).ConfigureAwait(false);
        if (await store.GetAsync(name, version, cancellationToken).ConfigureAwait(false) is not { } template)
        {
            return Refused(version is null ? $"there is no template '{name}'" : $"template '{name}' has no version {version}");
        }
        var parts = template.Content;
        return new SendContent(new TemplateContent(own.Subject ?? parts.Subject, own.Text ?? parts.Text, own.Html ?? parts.Html), null);
    }

    /// <summary>Renders <paramref name="parts"/> for <paramref name="recipient"/> (the request's substitutions with the
    /// recipient's over them), composes its message and applies the ingress rules; null with the refusal when they
    /// refuse it.</summary>
    /// <exception cref="TemplateException">A part does not parse, or a strict render misses a variable.</exception>
    public RecipientMessage? Compose(SendRequest request, TemplateContent parts, SendRecipient recipient, out IngressRefusal? refusal)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(recipient);
        var values = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var (name, value) in request.Substitutions)
        {
            values[name] = value;
        }
        foreach (var (name, value) in recipient.Substitutions)
        {
            values[name] = value;
        }
        var rendered = renderer.Render(parts, values, request.Strict);
        var message = composer.Compose(request, recipient, new RenderedContent(rendered.Subject, rendered.Text, rendered.Html));
        if (!IngressRules.TryAccept(message.Bytes, PriorityRule.Strict, out var accepted, out var refused))
        {
            refusal = refused;
            return null;
        }
        refusal = null;
        return new RecipientMessage(message, accepted);
    }

    public async ValueTask<HeldSendOutcome> ComposeAsync(ReadOnlyMemory<byte> heldRequest, CancellationToken cancellationToken)
    {
        var parsed = parser.Parse(heldRequest.Span);
        if (parsed.Request is not { Recipients: [var recipient] } request)
        {
            var problem = parsed.Errors.Count > 0 ? $"{parsed.Errors[0].Field}: {parsed.Errors[0].Message}" : "not one recipient";
            return new HeldSendOutcome.Failed("the held send request cannot be read: " + problem);
        }
        var content = await ResolveAsync(request, cancellationToken).ConfigureAwait(false);
        if (content.Error is { } error)
        {
            return new HeldSendOutcome.Failed($"{error.Field}: {error.Message}");
        }
        try
        {
            return Compose(request, content.Parts!, recipient, out var refusal) is { } composed
                ? new HeldSendOutcome.Composed(composed.Message.Bytes, composed.Accepted.IsPrimary)
                : new HeldSendOutcome.Failed(refusal!.Message);
        }
        catch (TemplateException e)
        {
            return new HeldSendOutcome.Failed("template " + e.Message);
        }
    }

    private static SendContent Refused(string message) => new(null, new SendRequestError("template", message));
}
