import Foundation
@testable import Pebble
import Testing

@Suite struct TokenTests {
    static let keys: TokenKeys = {
        var keys = TokenKeys()
        _ = keys.generate(keyID: "k1")
        _ = keys.generate(keyID: "k2")
        return keys
    }()
    static let now = Date(timeIntervalSince1970: 1_800_000_000)
    static let alice = ClientIdentity(source: .certificateURI, name: "spiffe://example.org/alice")

    func mint(_ caveats: [String], kid: String = "k1") throws -> CapabilityToken {
        try CapabilityToken.mint(key: Self.keys.keys[kid]!, keyID: kid, caveats: caveats.map { try Caveat.parse($0) })
    }

    func verify(_ text: String, identity: ClientIdentity? = alice, peer: String? = "127.0.0.1", revoked: Set<String> = [])
        -> Result<Capability, TokenVerifier.Refusal> {
        TokenVerifier(keys: Self.keys, revoked: revoked).verify(text, now: Self.now, identity: identity, peerHost: peer)
    }

    func refusal(_ result: Result<Capability, TokenVerifier.Refusal>) -> TokenError? {
        if case let .failure(refusal) = result { refusal.error } else { nil }
    }

    @Test("mint → text → verify gives the caveats' capability; attenuation needs no key and only narrows")
    func mintAttenuateVerify() throws {
        var token = try mint(["backend = main", "path = /srv/data", "rights = lrw", "expires = 2027-01-31T12:00:00Z", "fids = 100"])
        let text = token.text
        #expect(text.hasPrefix("pebble1.") && text.count < 300, "\(text.count) characters")
        #expect(!text.contains(",") && !text.contains("=") && !text.contains(" "))
        let parsed = try CapabilityToken(text: text)
        #expect(parsed == token)
        let capability = try verify(text).get()
        #expect(capability.backend == "main" && capability.root.description == "/srv/data" && capability.rights == [.lookup, .read, .write])
        #expect(capability.maxFids == 100 && capability.tokenID == token.idHex && token.idHex.count == 32)

        // Anyone can narrow: a deeper path and fewer rights.
        try token.attenuate(.path("/srv/data/public"))
        try token.attenuate(.rights([.lookup, .read, .create]))
        let narrowed = try verify(token.text).get()
        #expect(narrowed.root.description == "/srv/data/public" && narrowed.rights == [.lookup, .read], "rights intersect: c was never granted")
        #expect(narrowed.tokenID == capability.tokenID)
    }

    @Test("wider rights add nothing, and another path makes the token grant nothing")
    func noWidening() throws {
        var token = try mint(["path = /a", "rights = lr"])
        try token.attenuate(.rights(.all))
        #expect(try verify(token.text).get().rights == [.lookup, .read])
        var elsewhere = try mint(["path = /a", "rights = lr"])
        try elsewhere.attenuate(.path("/b"))
        #expect(refusal(verify(elsewhere.text)) == .conflict("path /b is not inside /a"))
        var wider = try mint(["path = /a/b"])
        try wider.attenuate(.path("/a"))
        #expect(refusal(verify(wider.text)) != nil)
    }

    @Test("a flipped bit anywhere in the token is refused")
    func tampering() throws {
        let token = try mint(["path = /a", "rights = lr"])
        let bytes = try #require(Base64URL.decode(String(token.text.dropFirst(CapabilityToken.prefix.count))))
        for index in bytes.indices {
            for bit in [0, 3, 7] {
                var flipped = bytes
                flipped[index] ^= UInt8(1 << bit)
                let text = CapabilityToken.prefix + Base64URL.encode(flipped)
                #expect(refusal(verify(text)) != nil, "byte \(index) bit \(bit) accepted")
            }
        }
        #expect(refusal(verify("pebble1.!!!")) == .malformed("bad base64url"))
        #expect(refusal(verify("pebble2.AAAA")) == .malformed("not a pebble9p token"))
        #expect(refusal(verify(CapabilityToken.prefix)) == .malformed("unknown version"))
    }

    @Test("reordered caveats, another key id, an unknown key id: the chain does not verify")
    func chain() throws {
        let token = try mint(["path = /a", "rights = lr"])
        let reordered = CapabilityToken(keyID: token.keyID, id: token.id, caveats: token.caveats.reversed(), tag: token.tag)
        #expect(refusal(verify(reordered.text)) == .badTag)
        let otherKey = CapabilityToken(keyID: "k2", id: token.id, caveats: token.caveats, tag: token.tag)
        #expect(refusal(verify(otherKey.text)) == .badTag)
        let unknown = CapabilityToken(keyID: "k9", id: token.id, caveats: token.caveats, tag: token.tag)
        #expect(refusal(verify(unknown.text)) == .unknownKey("k9"))
        #expect(try verify(mint(["rights = l"], kid: "k2").text).get().rights == .lookup, "k2 verifies its own")
    }

    @Test("expired, revoked, another client, another network, an unknown caveat: refused, with the token id")
    func refusals() throws {
        let expired = try mint(["expires = 2020-01-01T00:00:00Z"])
        #expect(refusal(verify(expired.text)) == .expired)
        let fresh = try mint(["expires = 2099-01-01T00:00:00+01:00"])
        #expect(try verify(fresh.text).get().expires != nil)

        let revoked = try mint([])
        if case let .failure(refused) = verify(revoked.text, revoked: [revoked.idHex]) {
            #expect(refused.error == .revoked && refused.tokenID == revoked.idHex)
        } else {
            Issue.record("a revoked token verified")
        }

        let forAlice = try mint(["client = uri:spiffe://example.org/alice"])
        #expect(try verify(forAlice.text).get().clients == ["uri:spiffe://example.org/alice"])
        #expect(refusal(verify(forAlice.text, identity: ClientIdentity(source: .certificateDNS, name: "bob"))) == .wrongClient)
        #expect(refusal(verify(forAlice.text, identity: nil)) == .wrongClient)
        let byBareName = try mint(["client = spiffe://example.org/alice"])
        #expect((try? verify(byBareName.text).get()) != nil)
        let byAddress = try mint(["client = 127.0.0.1"])
        #expect((try? verify(byAddress.text, identity: .peer("127.0.0.1:40000")).get()) != nil)
        #expect(refusal(verify(byAddress.text, identity: .peer("127.0.0.2:40000"))) == .wrongClient)

        let local = try mint(["from = 127.0.0.0/8"])
        #expect((try? verify(local.text, peer: "127.1.2.3").get()) != nil)
        #expect(refusal(verify(local.text, peer: "10.0.0.1")) == .wrongAddress)
        #expect(refusal(verify(local.text, peer: nil)) == .wrongAddress)

        // A caveat this gateway does not know, correctly chained: refused (fail closed).
        let base = try mint([])
        let tag = TokenCrypto.hmac(key: base.tag, Array("color = blue".utf8))
        let unknown = CapabilityToken(keyID: base.keyID, id: base.id, caveats: ["color = blue"], tag: tag)
        #expect(refusal(verify(unknown.text)) == .unknownCaveat("color"))
    }

    @Test("caveats parse strictly and print canonically")
    func caveats() throws {
        #expect(try Caveat.parse("path=/a//b/").description == "path = /a/b")
        #expect(try Caveat.parse("rights = rl").description == "rights = lr")
        #expect(try Caveat.parse("rights =").description == "rights = ")
        #expect(try Caveat.parse("from = 10.1.2.3/8").description == "from = 10.0.0.0/8")
        #expect(try Caveat.parse("from = ::1").description == "from = ::1/128")
        #expect(try Caveat.parse("rate-bytes = 1048576") == .rateBytes(1_048_576))
        for bad in ["path = a/b", "path = /a/../b", "path = /a/./b", "rights = lrx", "expires = tomorrow", "from = 10.0.0.0/33",
                    "fids = -1", "fids = 1e3", "uname =", "no equals sign"] {
            #expect(throws: TokenError.self, "\(bad)") { try Caveat.parse(bad) }
        }
        #expect(throws: TokenError.unknownCaveat("colour")) { try Caveat.parse("colour = red") }
    }

    @Test("key files: generate, print, parse back; bad lines and duplicate ids are refused")
    func keyFiles() throws {
        var keys = TokenKeys()
        let generated = [keys.generate(keyID: "2026-12"), keys.generate(keyID: "2026-12"), keys.generate(keyID: "bad id"),
                         keys.generate(keyID: "next")]
        #expect(generated == [true, false, false, true], "ids are unique and well formed")
        let text = "# pebble9p token keys\n" + keys.text
        #expect(try TokenKeys(parsing: text) == keys)
        #expect(keys.keys["2026-12"]?.count == 32 && keys.keys["2026-12"] != keys.keys["next"])
        #expect(throws: TokenKeys.ParseError.badLine(1)) { try TokenKeys(parsing: "k1 c2hvcnQ\n") }
        let line = keys.text.split(separator: "\n")[0]
        #expect(throws: TokenKeys.ParseError.duplicate("2026-12")) { try TokenKeys(parsing: "\(line)\n\(line)\n") }
    }
}
