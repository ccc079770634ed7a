using System.Buffers.Binary;
using System.Net;
using ManycoreMail.Dns.Tests.Support;
using ManycoreMail.Dns.Wire;

namespace ManycoreMail.Dns.Tests;

public sealed class WireTests
{
    private const ushort Id = 0x1234;

    private static byte[] Query(string name, DnsRecordType type, bool useEdns = true)
    {
        var buffer = new byte[DnsQueryWriter.MaxQueryLength];
        var length = DnsQueryWriter.Write(buffer, Id, name, type, useEdns);
        Assert.True(length > 0);
        return buffer[..length];
    }

    private static DnsParseStatus Parse<T>(byte[] message, string name, DnsRecordType type, DnsRDataDecoder<T> decoder, out DnsResponse<T>? response) =>
        DnsResponseParser.Parse(message, new DnsQuestion(Id, name, type), decoder, out response);

    [Fact]
    public void Query_has_random_id_recursion_desired_authentic_data_asked_one_question_and_an_edns_opt_for_1232_bytes()
    {
        var query = Query("mx1.example.test", DnsRecordType.Mx);

        byte[] expected =
        [
            0x12, 0x34, 0x01, 0x20, 0, 1, 0, 0, 0, 0, 0, 1, // RD, and AD: tell us whether you validated (RFC 6840 §5.7)
            3, (byte)'m', (byte)'x', (byte)'1', 7, (byte)'e', (byte)'x', (byte)'a', (byte)'m', (byte)'p', (byte)'l', (byte)'e', 4, (byte)'t', (byte)'e', (byte)'s', (byte)'t', 0,
            0, 15, 0, 1,
            0, 0, 41, 0x04, 0xD0, 0, 0, 0, 0, 0, 0,
        ];
        Assert.Equal(expected, query);
    }

    [Fact]
    public void Query_without_edns_has_no_additional_record()
    {
        var query = Query("example.test", DnsRecordType.A, useEdns: false);

        Assert.Equal(0, BinaryPrimitives.ReadUInt16BigEndian(query.AsSpan(10)));
        Assert.Equal(12 + 14 + 4, query.Length);
    }

    [Fact]
    public void Mx_answer_with_compressed_owner_and_exchange_round_trips()
    {
        var query = Query("example.test", DnsRecordType.Mx);
        // Owner: pointer to the question. Exchange: "mx1" then a pointer to "example.test" at offset 12.
        var response = DnsMessageBuilder.ResponseTo(query, answers: 2)
            .Answer(DnsRecordType.Mx, 300, b => b.UInt16(10).Name("mx1", thenPointer: 12))
            .Answer(DnsRecordType.Mx, 200, b => b.UInt16(20).Name("MX2.Other.Test"))
            .ToArray();

        var status = Parse<MxRecord>(response, "example.test", DnsRecordType.Mx, DnsRecordDecoders.TryDecodeMx, out var parsed);

        Assert.Equal(DnsParseStatus.Accepted, status);
        Assert.Equal(DnsResponseCode.NoError, parsed!.ResponseCode);
        Assert.Equal([new MxRecord(10, "mx1.example.test"), new MxRecord(20, "mx2.other.test")], parsed.Records);
        Assert.Equal(200u, parsed.Ttl);
    }

    [Fact]
    public void Pointer_to_a_pointer_earlier_in_the_message_is_followed()
    {
        var query = Query("example.test", DnsRecordType.Mx);
        var builder = DnsMessageBuilder.ResponseTo(query, answers: 2);
        builder.Answer(DnsRecordType.Mx, 60, b => b.UInt16(10).Name("mx1", thenPointer: 12));
        var mx1At = builder.Position - ("mx1".Length + 1 + 2); // where "mx1" + pointer starts
        builder.Answer(DnsRecordType.Mx, 60, b => b.UInt16(20).Name("backup", thenPointer: mx1At));

        var status = Parse<MxRecord>(builder.ToArray(), "example.test", DnsRecordType.Mx, DnsRecordDecoders.TryDecodeMx, out var parsed);

        Assert.Equal(DnsParseStatus.Accepted, status);
        Assert.Equal("backup.mx1.example.test", parsed!.Records[1].Exchange);
    }

    [Fact]
    public void Null_mx_exchange_is_the_empty_name()
    {
        var query = Query("nullmx.test", DnsRecordType.Mx);
        var response = DnsMessageBuilder.ResponseTo(query, answers: 1).Answer(DnsRecordType.Mx, 60, b => b.UInt16(0).Bytes([0])).ToArray();

        Parse<MxRecord>(response, "nullmx.test", DnsRecordType.Mx, DnsRecordDecoders.TryDecodeMx, out var parsed);

        Assert.True(Assert.Single(parsed!.Records).IsNullMx);
    }

    [Fact]
    public void A_and_aaaa_answers_decode_to_addresses()
    {
        var query = Query("host.test", DnsRecordType.Aaaa);
        var response = DnsMessageBuilder.ResponseTo(query, answers: 1)
            .Answer(DnsRecordType.Aaaa, 60, b => b.Bytes(IPAddress.Parse("2001:db8::1").GetAddressBytes()))
            .ToArray();

        Parse<IPAddress>(response, "host.test", DnsRecordType.Aaaa, DnsRecordDecoders.TryDecodeAaaa, out var parsed);

        Assert.Equal(IPAddress.Parse("2001:db8::1"), Assert.Single(parsed!.Records));
    }

    [Fact]
    public void A_record_with_wrong_length_is_malformed()
    {
        var query = Query("host.test", DnsRecordType.A);
        var response = DnsMessageBuilder.ResponseTo(query, answers: 1).Answer(DnsRecordType.A, 60, b => b.Bytes([127, 0, 0])).ToArray();

        Assert.Equal(DnsParseStatus.Malformed, Parse<IPAddress>(response, "host.test", DnsRecordType.A, DnsRecordDecoders.TryDecodeA, out _));
    }

    [Fact]
    public void Txt_strings_are_joined_even_when_a_split_falls_inside_a_utf8_sequence()
    {
        var key = "v=DKIM1; k=rsa; p=" + new string('A', 380);
        var query = Query("sel._domainkey.example.test", DnsRecordType.Txt);
        var response = DnsMessageBuilder.ResponseTo(query, answers: 2)
            .Answer(DnsRecordType.Txt, 60, b => b.TxtStrings(key[..255], key[255..]))
            .Answer(DnsRecordType.Txt, 60, b => b.Bytes([2, (byte)'a', 0xC3, 2, 0xA9, (byte)'b'])) // "aé" + "b", é split
            .ToArray();

        Parse<string>(response, "sel._domainkey.example.test", DnsRecordType.Txt, DnsRecordDecoders.TryDecodeTxt, out var parsed);

        Assert.Equal([key, "aéb"], parsed!.Records);
    }

    [Fact]
    public void Cname_chain_is_followed_to_the_records_of_its_end()
    {
        var query = Query("www.example.test", DnsRecordType.A);
        var builder = DnsMessageBuilder.ResponseTo(query, answers: 4);
        // Out of order on purpose: the target's A record first, then the chain.
        builder.Record(b => b.Name("host.other.test"), DnsRecordType.A, 30, b => b.Bytes([127, 0, 0, 7]));
        builder.Record(b => b.Name("web.example.test"), DnsRecordType.Cname, 100, b => b.Name("host.other.test"));
        builder.Answer(DnsRecordType.Cname, 200, b => b.Name("web.example.test"));
        builder.Record(b => b.Name("unrelated.test"), DnsRecordType.A, 1, b => b.Bytes([10, 0, 0, 1]));

        var status = Parse<IPAddress>(builder.ToArray(), "www.example.test", DnsRecordType.A, DnsRecordDecoders.TryDecodeA, out var parsed);

        Assert.Equal(DnsParseStatus.Accepted, status);
        Assert.Equal(IPAddress.Parse("127.0.0.7"), Assert.Single(parsed!.Records));
        Assert.Equal(30u, parsed.Ttl);
    }

    [Fact]
    public void Cname_loop_is_malformed()
    {
        var query = Query("a.test", DnsRecordType.A);
        var response = DnsMessageBuilder.ResponseTo(query, answers: 2)
            .Record(b => b.Name("a.test"), DnsRecordType.Cname, 60, b => b.Name("b.test"))
            .Record(b => b.Name("b.test"), DnsRecordType.Cname, 60, b => b.Name("a.test"))
            .ToArray();

        Assert.Equal(DnsParseStatus.Malformed, Parse<IPAddress>(response, "a.test", DnsRecordType.A, DnsRecordDecoders.TryDecodeA, out _));
    }

    [Fact]
    public void Answer_of_another_type_only_is_no_data_with_the_soa_negative_ttl()
    {
        var query = Query("example.test", DnsRecordType.Mx);
        var response = DnsMessageBuilder.ResponseTo(query, answers: 1, authorities: 1)
            .Answer(DnsRecordType.A, 60, b => b.Bytes([127, 0, 0, 1]))
            .Soa(b => b.Name("test"), ttl: 3600, minimum: 120)
            .ToArray();

        Parse<MxRecord>(response, "example.test", DnsRecordType.Mx, DnsRecordDecoders.TryDecodeMx, out var parsed);

        Assert.Empty(parsed!.Records);
        Assert.Equal(120u, parsed.NegativeTtl);
    }

    [Fact]
    public void Negative_ttl_is_the_soa_ttl_when_lower_than_its_minimum()
    {
        var query = Query("nope.test", DnsRecordType.Mx);
        var response = DnsMessageBuilder.ResponseTo(query, flags: 0x8183, authorities: 1).Soa(b => b.Name("test"), ttl: 15, minimum: 900).ToArray();

        Parse<MxRecord>(response, "nope.test", DnsRecordType.Mx, DnsRecordDecoders.TryDecodeMx, out var parsed);

        Assert.Equal(DnsResponseCode.NameError, parsed!.ResponseCode);
        Assert.Equal(15u, parsed.NegativeTtl);
    }

    [Fact]
    public void No_soa_means_no_negative_ttl()
    {
        var query = Query("nope.test", DnsRecordType.Mx);
        var response = DnsMessageBuilder.ResponseTo(query, flags: 0x8183).ToArray();

        Parse<MxRecord>(response, "nope.test", DnsRecordType.Mx, DnsRecordDecoders.TryDecodeMx, out var parsed);

        Assert.Null(parsed!.NegativeTtl);
    }

    [Fact]
    public void Ttl_with_the_top_bit_set_counts_as_zero()
    {
        var query = Query("host.test", DnsRecordType.A);
        var response = DnsMessageBuilder.ResponseTo(query, answers: 1).Answer(DnsRecordType.A, 0x8000_0000, b => b.Bytes([127, 0, 0, 1])).ToArray();

        Parse<IPAddress>(response, "host.test", DnsRecordType.A, DnsRecordDecoders.TryDecodeA, out var parsed);

        Assert.Equal(0u, parsed!.Ttl);
    }

    [Fact]
    public void Other_id_is_a_mismatch()
    {
        var query = Query("host.test", DnsRecordType.A);
        var response = DnsMessageBuilder.ResponseTo(query).ToArray();
        response[1] ^= 0xFF;

        Assert.Equal(DnsParseStatus.Mismatch, Parse<IPAddress>(response, "host.test", DnsRecordType.A, DnsRecordDecoders.TryDecodeA, out _));
    }

    [Theory]
    [InlineData("other.test", 1)]
    [InlineData("host.test", 28)]
    [InlineData("host.test.other", 1)]
    public void Other_question_is_a_mismatch(string name, ushort type)
    {
        var response = DnsMessageBuilder.Response(Id).Question(name, (DnsRecordType)type).ToArray();

        Assert.Equal(DnsParseStatus.Mismatch, Parse<IPAddress>(response, "host.test", DnsRecordType.A, DnsRecordDecoders.TryDecodeA, out _));
    }

    [Fact]
    public void A_query_is_not_a_response()
    {
        var query = Query("host.test", DnsRecordType.A);

        Assert.Equal(DnsParseStatus.Mismatch, Parse<IPAddress>(query, "host.test", DnsRecordType.A, DnsRecordDecoders.TryDecodeA, out _));
    }

    [Fact]
    public void Question_is_matched_case_insensitively()
    {
        var response = DnsMessageBuilder.Response(Id, answers: 1).Question("HoSt.TeSt", DnsRecordType.A)
            .Answer(DnsRecordType.A, 60, b => b.Bytes([127, 0, 0, 1])).ToArray();

        Assert.Equal(DnsParseStatus.Accepted, Parse<IPAddress>(response, "host.test", DnsRecordType.A, DnsRecordDecoders.TryDecodeA, out _));
    }

    [Fact]
    public void Truncated_flag_is_reported_without_reading_the_cut_answers()
    {
        var query = Query("big.test", DnsRecordType.Txt);
        var response = DnsMessageBuilder.ResponseTo(query, flags: DnsMessageBuilder.ResponseFlags | 0x0200, answers: 40).ToArray();

        var status = Parse<string>(response, "big.test", DnsRecordType.Txt, DnsRecordDecoders.TryDecodeTxt, out var parsed);

        Assert.Equal(DnsParseStatus.Accepted, status);
        Assert.True(parsed!.IsTruncated);
    }

    [Fact]
    public void Every_truncation_of_a_valid_response_fails_without_throwing()
    {
        var query = Query("example.test", DnsRecordType.Mx);
        var response = DnsMessageBuilder.ResponseTo(query, answers: 2, authorities: 1)
            .Answer(DnsRecordType.Mx, 300, b => b.UInt16(10).Name("mx1", thenPointer: 12))
            .Answer(DnsRecordType.Mx, 300, b => b.UInt16(20).Name("mx2", thenPointer: 12))
            .Soa(b => b.Pointer(12), 60, 60)
            .ToArray();
        Assert.Equal(DnsParseStatus.Accepted, Parse<MxRecord>(response, "example.test", DnsRecordType.Mx, DnsRecordDecoders.TryDecodeMx, out _));

        for (var length = 0; length < response.Length; length++)
        {
            var status = Parse<MxRecord>(response[..length], "example.test", DnsRecordType.Mx, DnsRecordDecoders.TryDecodeMx, out _);
            Assert.NotEqual(DnsParseStatus.Accepted, status);
        }
    }

    [Fact]
    public void Pointer_to_itself_is_malformed()
    {
        var query = Query("example.test", DnsRecordType.A);
        var builder = DnsMessageBuilder.ResponseTo(query, answers: 1);
        builder.Record(b => b.Pointer(b.Position), DnsRecordType.A, 60, b => b.Bytes([127, 0, 0, 1]));

        Assert.Equal(DnsParseStatus.Malformed, Parse<IPAddress>(builder.ToArray(), "example.test", DnsRecordType.A, DnsRecordDecoders.TryDecodeA, out _));
    }

    [Fact]
    public void Pointers_forming_a_loop_are_malformed()
    {
        var query = Query("example.test", DnsRecordType.Mx);
        var builder = DnsMessageBuilder.ResponseTo(query, answers: 1);
        // The exchange "a" points forward to "b", which points back to "a": a loop through two labels.
        var aAt = -1;
        builder.Answer(DnsRecordType.Mx, 60, b =>
        {
            b.UInt16(10);
            aAt = b.Position;
            b.Name("a", thenPointer: aAt + 4);
            b.Name("b", thenPointer: aAt);
        });

        Assert.Equal(DnsParseStatus.Malformed, Parse<MxRecord>(builder.ToArray(), "example.test", DnsRecordType.Mx, DnsRecordDecoders.TryDecodeMx, out _));
    }

    [Fact]
    public void Pointer_past_the_end_is_malformed()
    {
        var query = Query("example.test", DnsRecordType.Mx);
        var response = DnsMessageBuilder.ResponseTo(query, answers: 1).Answer(DnsRecordType.Mx, 60, b => b.UInt16(10).Pointer(0x3FFF)).ToArray();

        Assert.Equal(DnsParseStatus.Malformed, Parse<MxRecord>(response, "example.test", DnsRecordType.Mx, DnsRecordDecoders.TryDecodeMx, out _));
    }

    [Fact]
    public void Name_longer_than_255_bytes_is_malformed()
    {
        var query = Query("example.test", DnsRecordType.Mx);
        var longName = string.Join('.', Enumerable.Repeat(new string('x', 63), 4)); // 4 * 64 + 1 = 257 bytes
        var response = DnsMessageBuilder.ResponseTo(query, answers: 1).Answer(DnsRecordType.Mx, 60, b => b.UInt16(10).Name(longName)).ToArray();

        Assert.Equal(DnsParseStatus.Malformed, Parse<MxRecord>(response, "example.test", DnsRecordType.Mx, DnsRecordDecoders.TryDecodeMx, out _));
    }

    [Fact]
    public void Odd_bytes_in_names_are_escaped_so_they_never_equal_a_plain_name()
    {
        var query = Query("example.test", DnsRecordType.Mx);
        var response = DnsMessageBuilder.ResponseTo(query, answers: 1)
            .Answer(DnsRecordType.Mx, 60, b => b.UInt16(10).Bytes([5, (byte)'m', (byte)'.', (byte)'x', (byte)' ', 0xFF, 0]))
            .ToArray();

        Parse<MxRecord>(response, "example.test", DnsRecordType.Mx, DnsRecordDecoders.TryDecodeMx, out var parsed);

        Assert.Equal(@"m\046x\032\255", Assert.Single(parsed!.Records).Exchange);
    }

    [Fact]
    public void Mutated_responses_never_throw()
    {
        var query = Query("example.test", DnsRecordType.Mx);
        var valid = DnsMessageBuilder.ResponseTo(query, answers: 3, authorities: 1)
            .Answer(DnsRecordType.Cname, 300, b => b.Name("alias", thenPointer: 12))
            .Record(b => b.Name("alias", thenPointer: 12), DnsRecordType.Mx, 300, b => b.UInt16(10).Name("mx1", thenPointer: 12))
            .Record(b => b.Name("alias", thenPointer: 12), DnsRecordType.Txt, 300, b => b.TxtStrings("hello", "world"))
            .Soa(b => b.Pointer(12), 60, 60)
            .ToArray();
        var random = new Random(1035);
        var accepted = 0;

        for (var round = 0; round < 5000; round++)
        {
            var mutated = (byte[])valid.Clone();
            for (var flips = random.Next(1, 4); flips > 0; flips--)
            {
                mutated[random.Next(2, mutated.Length)] = (byte)random.Next(256); // keep the id
            }

            if (Parse<MxRecord>(mutated, "example.test", DnsRecordType.Mx, DnsRecordDecoders.TryDecodeMx, out var parsed) == DnsParseStatus.Accepted)
            {
                accepted++;
                Assert.NotNull(parsed);
            }
        }

        Assert.InRange(accepted, 1, 4999); // some mutations hit unimportant bytes, most break something
    }
}
