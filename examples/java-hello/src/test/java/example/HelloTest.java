package example;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.wisp.runtime.testing.TestContext;
import java.util.List;
import org.junit.jupiter.api.Test;

class HelloTest {

    @Test
    void greetsByName() {
        TestContext context = new TestContext("java-hello").withRequestId("req-1");

        Hello.Greeting greeting = new Hello().handleRequest(new Hello.Request("ada"), context);

        assertEquals(new Hello.Greeting("hello, ada", "req-1"), greeting);
        assertEquals(List.of("INFO greeting ada"), context.logged());
    }

    @Test
    void greetsTheWorldWithoutAName() {
        Hello.Greeting greeting = new Hello().handleRequest(new Hello.Request(null), new TestContext("java-hello"));

        assertEquals("hello, world", greeting.greeting());
    }
}
