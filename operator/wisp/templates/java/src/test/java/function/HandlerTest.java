package function;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.wisp.runtime.testing.TestContext;
import java.util.Map;
import org.junit.jupiter.api.Test;

class HandlerTest {

    @Test
    void saysHello() {
        TestContext context = new TestContext("{{name}}").withRequestId("req-1");

        Map<String, Object> result = new Handler().handleRequest(Map.of("name", "ada"), context);

        assertEquals(Map.of("hello", "ada", "requestId", "req-1"), result);
    }
}
