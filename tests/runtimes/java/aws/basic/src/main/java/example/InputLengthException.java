package example;

// As sample-apps/java-basic/src/main/java/example/InputLengthException.java.
public class InputLengthException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public InputLengthException(String errorMessage) {
        super(errorMessage);
    }
}
