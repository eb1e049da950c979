import ArgumentParser
import Foundation
import Gateway
import Pebble

/// `pebble9p token …`: keys and capability tokens, offline. Scripts and the README rely on these
/// exact spellings; `mint` and `attenuate` print only the token.
struct TokenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Capability tokens: make keys, mint, attenuate, inspect and verify tokens.",
        subcommands: [Keygen.self, Mint.self, Attenuate.self, Inspect.self, Verify.self]
    )

    struct Keygen: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a new random key to a key file (created with mode 0600).")
        @Option(name: .customLong("key-file"), help: "Key file.") var keyFile: String
        @Option(help: "Id of the new key (letters, digits, . _ -).") var kid: String

        func run() throws {
            var keys = FileManager.default.fileExists(atPath: keyFile) ? try fail { () throws(TokenFiles.FileError) in try TokenFiles.loadKeys(keyFile) } : TokenKeys()
            guard keys.generate(keyID: kid) else {
                throw failure("key id \"\(kid)\" is \(keys.keys[kid] == nil ? "not valid (1-64 letters, digits, . _ -)" : "already in \(keyFile)")")
            }
            try fail { () throws(TokenFiles.FileError) in try TokenFiles.saveKeys(keys, to: keyFile) }
            print("added key \(kid) to \(keyFile)")
        }
    }

    struct Mint: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Mint a token under a key; prints only the token.")
        @Option(name: .customLong("key-file"), help: "Key file.") var keyFile: String
        @Option(help: "Id of the key to mint with.") var kid: String
        @Option(help: "A caveat, 'KEY = VALUE' (repeatable): backend, path, rights, expires, uname, client, from, fids, quota, rate-ops, rate-bytes.")
        var caveat: [String] = []

        func run() throws {
            let keys = try fail { () throws(TokenFiles.FileError) in try TokenFiles.loadKeys(keyFile) }
            guard let key = keys.keys[kid] else { throw failure("no key \"\(kid)\" in \(keyFile)") }
            let caveats = try caveat.map { text in try fail { () throws(TokenError) in try Caveat.parse(text) } }
            let token = try fail { () throws(TokenError) in try CapabilityToken.mint(key: key, keyID: kid, caveats: caveats) }
            print(token.text)
        }
    }

    struct Attenuate: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Append caveats to a token (no key needed); prints only the new token.")
        @Argument(help: "The token.") var token: String
        @Option(help: "A caveat to add, 'KEY = VALUE' (repeatable).") var caveat: [String] = []

        func run() throws {
            var narrowed = try fail { () throws(TokenError) in try CapabilityToken(text: token) }
            for text in caveat {
                let parsed = try fail { () throws(TokenError) in try Caveat.parse(text) }
                try fail { () throws(TokenError) in try narrowed.attenuate(parsed) }
            }
            print(narrowed.text)
        }
    }

    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a token's key id, token id and caveats (never its tag).")
        @Argument(help: "The token.") var token: String

        func run() throws {
            let parsed = try fail { () throws(TokenError) in try CapabilityToken(text: token) }
            print("key id: \(parsed.keyID)")
            print("token id: \(parsed.idHex)")
            print("caveats:\(parsed.caveats.isEmpty ? " none (everything the gateway serves)" : "")")
            for caveat in parsed.caveats { print("  \(caveat)") }
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a token's tag, caveats, expiry and revocation; exit 0 if valid, 1 with the reason.",
            discussion: "client and from caveats name who may present the token; the gateway checks them at attach.")
        @Option(name: .customLong("key-file"), help: "Key file.") var keyFile: String
        @Option(help: "File of revoked token ids.") var revoked: String?
        @Argument(help: "The token.") var token: String

        func run() throws {
            let keys = try fail { () throws(TokenFiles.FileError) in try TokenFiles.loadKeys(keyFile) }
            let revokedIDs = try revoked.map { path in try fail { () throws(TokenFiles.FileError) in try TokenFiles.loadRevoked(path) } } ?? []
            let parsed = try fail { () throws(TokenError) in try CapabilityToken(text: token) }
            let capability = try fail { () throws(TokenError) in try TokenVerifier(keys: keys, revoked: revokedIDs).verify(parsed) }
            if let expires = capability.expires, Date() >= expires { throw failure(TokenError.expired.description) }
            print("valid: token id \(capability.tokenID), path \(capability.root), rights \(capability.rights)"
                + (capability.expires.map { ", expires \(Caveat.expires($0).description.dropFirst("expires = ".count))" } ?? ""))
            for client in capability.clients { print("checked at attach: client = \(client)") }
            for range in capability.from { print("checked at attach: from = \(range)") }
        }
    }
}

/// Runs `body`, turning its typed error into a message on stderr and exit status 1.
private func fail<T, E: Error & CustomStringConvertible>(_ body: () throws(E) -> T) throws -> T {
    do { return try body() } catch { throw failure(error.description) }
}

private func failure(_ message: String) -> ExitCode {
    FileHandle.standardError.write(Data("pebble9p token: \(message)\n".utf8))
    return ExitCode(1)
}
