using System.Net;
using Microsoft.AspNetCore.Http;

namespace ManycoreMail.Hosting;

/// <summary>One HTTP endpoint that a role provides and the HTTP front serves on a listener of its own (such as the
/// MX server's <c>POST /v1/email</c>): the front knows the contract, not the role behind it.</summary>
internal interface IListenerEndpoint
{
    /// <summary>The listener it is served on, and only there.</summary>
    IPEndPoint Bind { get; }

    Task<IResult> HandleAsync(HttpContext context);
}
