package dev.wisp.runtime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import com.amazonaws.services.lambda.runtime.RequestStreamHandler;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.reflect.Method;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Lambda's shapes: handler signatures, stream output, string status codes and cookies. */
class LambdaShapesTest {

    static final class Shapes {
        public void streams(InputStream in, OutputStream out) {}

        public void streamsAws(InputStream in, OutputStream out, com.amazonaws.services.lambda.runtime.Context c) {}

        public Object aws(Map<String, Object> in, com.amazonaws.services.lambda.runtime.Context c) {
            return null;
        }

        public Object wisp(Map<String, Object> in, Context c) {
            return null;
        }

        public Object tooMany(Object a, Object b, Object c) {
            return null;
        }
    }

    private static LoadedHandler.Signature signature(String name) {
        for (Method method : Shapes.class.getMethods()) {
            if (method.getName().equals(name)) {
                return HandlerLoader.signature(method);
            }
        }
        throw new AssertionError(name);
    }

    @Test
    void handlerSignaturesOfLambdaAndWisp() throws Exception {
        assertEquals(new LoadedHandler.Signature(true, LoadedHandler.ContextKind.NONE), signature("streams"));
        assertEquals(new LoadedHandler.Signature(true, LoadedHandler.ContextKind.AWS), signature("streamsAws"));
        assertEquals(new LoadedHandler.Signature(false, LoadedHandler.ContextKind.AWS), signature("aws"));
        assertEquals(new LoadedHandler.Signature(false, LoadedHandler.ContextKind.WISP), signature("wisp"));
        assertNull(signature("tooMany"));
        Method stream = RequestStreamHandler.class.getMethod("handleRequest",
                InputStream.class, OutputStream.class, com.amazonaws.services.lambda.runtime.Context.class);
        assertEquals(new LoadedHandler.Signature(true, LoadedHandler.ContextKind.AWS), HandlerLoader.signature(stream));
    }

    @Test
    void streamOutputIsTheBodyUnlessItShapesTheResponse() throws Exception {
        byte[] raw = "not json".getBytes(StandardCharsets.UTF_8);
        Reply plain = Reply.fromResult(new LoadedHandler.StreamOutput(raw));
        assertEquals(200, plain.status());
        assertArrayEquals(raw, plain.body());
        assertEquals(List.of("application/octet-stream"), plain.headers().get("Content-Type"));

        byte[] json = "{\"b\": 1,  \"a\": 2}".getBytes(StandardCharsets.UTF_8);
        Reply data = Reply.fromResult(new LoadedHandler.StreamOutput(json));
        assertArrayEquals(json, data.body());
        assertEquals(List.of("application/json"), data.headers().get("Content-Type"));

        byte[] shaped = "{\"statusCode\": 202, \"body\": \"ok\"}".getBytes(StandardCharsets.UTF_8);
        Reply response = Reply.fromResult(new LoadedHandler.StreamOutput(shaped));
        assertEquals(202, response.status());
        assertArrayEquals("ok".getBytes(StandardCharsets.UTF_8), response.body());
    }

    @Test
    void aNumericStringStatusAndCookiesShapeTheResponse() throws Exception {
        Reply reply = Reply.fromResult(Map.of("statusCode", "201", "cookies", List.of("a=1", "b=2"), "body", "made"));
        assertEquals(201, reply.status());
        assertEquals(List.of("a=1", "b=2"), reply.headers().get("Set-Cookie"));

        Reply data = Reply.fromResult(Map.of("statusCode", "pending"));
        assertEquals(200, data.status());
        assertEquals("{\"statusCode\":\"pending\"}", new String(data.body(), StandardCharsets.UTF_8));
    }

    @Test
    void eventKeysMatchIgnoringCaseAndPunctuation() {
        assertEquals("detailtype", AwsEvents.normalise("detail-type"));
        assertEquals("records", AwsEvents.normalise("Records"));
        assertEquals(AwsEvents.normalise("eventSourceArn"), AwsEvents.normalise("eventSourceARN"));
        assertEquals(AwsEvents.normalise("xAmzRequestId"), AwsEvents.normalise("x-amz-request-id"));
    }
}
