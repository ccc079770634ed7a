# One image for every role of Manycore Mail: `docker run IMAGE receiver`, `IMAGE run`, `IMAGE check-config`, ...
# The configuration is read from /configs (inboxbooster-mailer-global.yaml and inboxbooster-mailer-customer.yaml),
# as the original system's images read it; see docker-compose.yml and deploy/helm/manycore-mail/.

FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /source
# The central package versions and build settings first, so that editing code does not change this layer.
COPY Directory.Build.props Directory.Packages.props ./
COPY src/ src/
RUN dotnet publish src/ManycoreMail/ManycoreMail.csproj -c Release -r linux-x64 --self-contained false \
      --nologo -o /app

FROM mcr.microsoft.com/dotnet/aspnet:10.0
# The mailer opens its own listeners from the configuration; the base image's default Kestrel port would only
# add a warning.
ENV ASPNETCORE_HTTP_PORTS=
# The Public Suffix List, for the MX server's relaxed DMARC alignment of reports (mxserver/public-suffix-list).
RUN apt-get update && apt-get install -y --no-install-recommends publicsuffix && rm -rf /var/lib/apt/lists/*
COPY --from=build /app /app
COPY LICENSE /app/LICENSE
# storage/path (spool, generated TLS certificate, SQLite stores) and the configuration directory. The image runs as
# the base image's non-root user (APP_UID), so the listeners use ports above 1024 (2525, 2587, ...); a Service or
# a published port maps 25 and 587 onto them.
RUN mkdir -p /data /configs && chown "$APP_UID" /data
WORKDIR /data
VOLUME ["/data"]
USER $APP_UID
EXPOSE 2525 2587 8080 8081 9090 9091 9092 9093 9094 9095 9096
ENTRYPOINT ["/app/mailer"]
CMD ["run"]
