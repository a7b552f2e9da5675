package example;

import com.amazonaws.services.lambda.runtime.Context;
import com.amazonaws.services.lambda.runtime.RequestHandler;
import java.util.List;

// Follows sample-apps/java-basic/src/main/java/example/HandlerDivide.java: divides the first
// number by the second, and fails with its own exception when it is not given two.
// Handler value: example.HandlerDivide
public class HandlerDivide implements RequestHandler<List<Integer>, Integer> {
    @Override
    public Integer handleRequest(List<Integer> event, Context context) {
        if (event.size() != 2) {
            throw new InputLengthException("Input must be an array that contains 2 numbers.");
        }
        return event.get(0) / event.get(1);
    }
}
