using System.Net;
using Microsoft.AspNetCore.Http;

namespace ManycoreMail.Hosting;

/// <summary>A listener of the process's HTTP server whose every request one handler answers (the tracker on
/// <c>tracking/bind</c>), so that a role can serve HTTP without the server knowing the role's types.</summary>
internal sealed record HttpSite(IPEndPoint Bind, RequestDelegate Handle);
