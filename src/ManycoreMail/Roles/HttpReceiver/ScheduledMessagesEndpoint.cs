using System.Data.Common;
using System.Text.Json;
using ManycoreMail.Events;
using ManycoreMail.Sending;
using Microsoft.AspNetCore.Http;

namespace ManycoreMail.Roles.HttpReceiver;

/// <summary>
/// <c>DELETE /v1/messages/{uuid}</c> behind the API's Basic auth: cancels a scheduled message not yet sent. 200
/// <c>{"uuid": ..., "status": "cancelled"}</c> (again for one already cancelled), 409 once it was sent, 404 for a
/// uuid nothing was scheduled under (or another tenant's, for a login bound to a tenant); refusals are problem+json
/// naming the field. The <c>cancelled</c> event is queued here, when the cancel happens; the scheduler later drops the
/// held message without a second one.
/// </summary>
internal sealed class ScheduledMessagesEndpoint(ApiAuthentication authentication, IScheduleLedger ledger, EventQueue events, TimeProvider time)
{
    /// <summary>The longest uuid the receivers accept (X-Uuid).</summary>
    private const int MaxUuidLength = 200;

    public async Task HandleAsync(HttpContext context)
    {
        var result = authentication.Refuse(context, out var login) ?? await CancelAsync(context, login?.Tenant).ConfigureAwait(false);
        await result.ExecuteAsync(context).ConfigureAwait(false);
    }

    /// <param name="loginTenant">The login's tenant: it may cancel only that tenant's messages, and another tenant's is
    /// answered as an unknown uuid, so as not to tell that it exists. Null (a login without a tenant) cancels any.</param>
    private async Task<IResult> CancelAsync(HttpContext context, string? loginTenant)
    {
        var uuid = context.Request.RouteValues["uuid"] as string ?? "";
        if (uuid.Length is 0 or > MaxUuidLength || !uuid.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9')))
        {
            return Problem(StatusCodes.Status400BadRequest, "Malformed uuid, expecting [a-z0-9]+");
        }
        var cancellation = context.RequestAborted;
        CancelOutcome outcome;
        try
        {
            outcome = await ledger.CancelAsync(uuid, loginTenant, cancellation).ConfigureAwait(false);
        }
        catch (DbException e)
        {
            // The ledger's database is away or busy: nothing changed, the client may try again.
            return Results.Problem(statusCode: StatusCodes.Status503ServiceUnavailable, title: "Service Unavailable",
                detail: $"the schedule ledger cannot be reached now ({e.Message}); try again later");
        }
        switch (outcome)
        {
            case CancelOutcome.Cancelled:
                // The cancel is recorded: the event must follow even if the client has gone meanwhile.
                await events.EmitAsync(MailEvent.Cancelled(uuid, time.GetUtcNow()), CancellationToken.None).ConfigureAwait(false);
                return Cancelled(uuid);
            case CancelOutcome.AlreadyCancelled:
                return Cancelled(uuid);
            case CancelOutcome.AlreadySent:
                return Problem(StatusCodes.Status409Conflict, $"message {uuid} was already sent");
            default:
                return Problem(StatusCodes.Status404NotFound, $"no scheduled message has uuid {uuid}");
        }
    }

    private static IResult Cancelled(string uuid)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(64);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("uuid", uuid);
            json.WriteString("status", "cancelled");
            json.WriteEndObject();
        }
        return Results.Bytes(buffer.WrittenSpan.ToArray(), "application/json; charset=utf-8");
    }

    private static IResult Problem(int status, string detail) =>
        Results.Problem(statusCode: status, detail: $"uuid: {detail}", extensions: new Dictionary<string, object?> { ["field"] = "uuid" });
}
