/// The release this build is, shown by `pebble9p --version`. Pebble is where policy lives as
/// values (tokens, rights, budgets); until those arrive it carries only this.
public enum PebbleVersion {
    public static let string = "0.1.0"
}
