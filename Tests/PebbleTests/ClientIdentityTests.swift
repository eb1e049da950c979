import Pebble
import Testing

@Suite struct ClientIdentityTests {
    @Test("a certificate's identity is its first SAN URI, else its first SAN DNS name, else its CN")
    func precedence() {
        let all = ClientIdentity.fromCertificate(uris: ["spiffe://example.org/alice", "urn:x"], dnsNames: ["alice.example.org"], commonName: "alice")
        #expect(all == ClientIdentity(source: .certificateURI, name: "spiffe://example.org/alice"))
        #expect(all?.description == "uri:spiffe://example.org/alice")
        let dns = ClientIdentity.fromCertificate(uris: [], dnsNames: ["bob.example.org", "b2"], commonName: "bob")
        #expect(dns == ClientIdentity(source: .certificateDNS, name: "bob.example.org"))
        #expect(ClientIdentity.fromCertificate(uris: [], dnsNames: [], commonName: "carol")?.description == "cn:carol")
        #expect(ClientIdentity.fromCertificate(uris: [""], dnsNames: [""], commonName: "") == nil, "empty names do not count")
        #expect(ClientIdentity.fromCertificate(uris: [], dnsNames: [], commonName: nil) == nil)
    }

    @Test("without a verified certificate the identity is the peer address, and not authenticated")
    func peer() {
        let identity = ClientIdentity.peer("127.0.0.1:40000")
        #expect(identity.description == "peer:127.0.0.1:40000")
        #expect(!identity.isAuthenticated)
        #expect(ClientIdentity.fromCertificate(uris: [], dnsNames: [], commonName: "alice")?.isAuthenticated == true)
    }
}
