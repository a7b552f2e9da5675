package example;

import com.amazonaws.services.lambda.runtime.Context;
import com.amazonaws.services.lambda.runtime.RequestHandler;
import java.util.List;

// As sample-apps/java-basic's HandlerList: the sum of a list of integers.
// Handler value: example.HandlerList
public class HandlerList implements RequestHandler<List<Integer>, Integer> {
    @Override
    public Integer handleRequest(List<Integer> event, Context context) {
        int sum = 0;
        for (Integer value : event) {
            sum += value;
        }
        return sum;
    }
}
