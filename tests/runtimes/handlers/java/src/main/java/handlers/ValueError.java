package handlers;

/**
 * The exception {@code boom} throws. The table expects the error type of each language's
 * fixture ("ValueError" in Python); naming the Java one alike keeps one expectation, and it
 * shows that errorType is the thrown class's simple name.
 */
public class ValueError extends IllegalArgumentException {
    public ValueError(String message) {
        super(message);
    }
}
