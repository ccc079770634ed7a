namespace ManycoreMail.Delivery;

/// <summary>What the engine reports as it delivers; the host turns it into its metrics families (the library
/// knows no metrics format).</summary>
internal interface IDeliveryMetrics
{
    void ConnectionOpened(string site);

    void ConnectionClosed(string site);

    /// <summary>The outcomes of one delivery to <paramref name="site"/> (or to a domain, for those settled without a connection).</summary>
    void Record(string site, IReadOnlyList<RecipientOutcome> outcomes);

    void Bounced(string site, string type, string bounceClass);
}
