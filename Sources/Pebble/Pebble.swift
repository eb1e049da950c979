public enum PebbleVersion { public static let string = "0.1.0" }
