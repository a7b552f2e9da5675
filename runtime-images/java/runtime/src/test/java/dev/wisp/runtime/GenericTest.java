package dev.wisp.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.LocalDate;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** A pool pod's pure rules: the specialisation request, the function's environment. */
class GenericTest {

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "                                                                    | body",
        "[1]                                                                 | body",
        "{\"env\": {\"A\": 1}, \"files\": {\"a.java\": \"\"}}                | env",
        "{\"env\": {}, \"files\": {\"a.java\": \"\"}}                        | env.WISP_HANDLER",
        "{\"env\": {\"WISP_HANDLER\": \"a.B\"}, \"files\": {}}               | files",
        "{\"env\": {\"WISP_HANDLER\": \"a.B\"}, \"files\": {\"../a.java\": \"\"}} | files[../a.java]",
        "{\"env\": {\"WISP_HANDLER\": \"a.B\"}, \"files\": {\"a.java\": 1}}  | files[a.java]",
    })
    void aRequestItCannotUseIsRefusedNamingTheField(String body, String field) {
        byte[] bytes = body == null ? new byte[0] : body.getBytes(StandardCharsets.UTF_8);
        Generic.SpecialiseException refused =
                assertThrows(Generic.SpecialiseException.class, () -> Generic.parse(bytes));
        assertTrue(refused.getMessage().startsWith(field + ": "), refused.getMessage());
    }

    @Test
    void theFunctionKeepsThePodsAddressAndTheImagesDefaultsButNotItsToken() {
        Map<String, String> requested = Map.of("WISP_HANDLER", "a.B", "WISP_PORT", "1", "GREETING", "hej",
                "WISP_POOL_TOKEN", "stolen", "WISP_CODE_DIR", "/elsewhere");
        Map<String, String> pod = Map.of("WISP_PORT", "8080", "WISP_LAYERS_DIR", "/opt", "WISP_DEPS_DIR", "/tmp/d");
        Map<String, String> env = Generic.functionEnvironment(requested, pod, Path.of("/tmp/wisp-code-1"));
        assertEquals(Map.of("WISP_HANDLER", "a.B", "WISP_PORT", "8080", "GREETING", "hej",
                "WISP_LAYERS_DIR", "/opt", "WISP_DEPS_DIR", "/tmp/d", "WISP_CODE_DIR", "/tmp/wisp-code-1"), env);
    }

    @Test
    void lambdasVariablesAreTheFunctionsAsTheEntrypointSetsThem() {
        Map<String, String> function = Map.of("WISP_FUNCTION_NAME", "orders", "WISP_HANDLER", "a.B",
                "WISP_MEMORY_MB", "512", "WISP_CODE_DIR", "/tmp/wisp-code-1", "AWS_REGION", "eu-north-1",
                "TZ", "Asia/Tokyo");
        Map<String, String> env = LambdaEnvironment.of(function, Map.of("WISP_JAVA_FEATURE", "21"), "pod-1",
                LocalDate.of(2026, 12, 5));
        assertEquals("eu-north-1", env.get("AWS_REGION"));
        assertEquals("eu-north-1", env.get("AWS_DEFAULT_REGION"));
        assertEquals("Asia/Tokyo", env.get("TZ"));
        assertEquals("AWS_Lambda_java21", env.get("AWS_EXECUTION_ENV"));
        assertEquals("orders", env.get("AWS_LAMBDA_FUNCTION_NAME"));
        assertEquals("512", env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"));
        assertEquals("/aws/lambda/orders", env.get("AWS_LAMBDA_LOG_GROUP_NAME"));
        assertEquals("2026/12/05/[$LATEST]pod-1", env.get("AWS_LAMBDA_LOG_STREAM_NAME"));
        assertEquals("a.B", env.get("_HANDLER"));
        assertEquals("/tmp/wisp-code-1", env.get("LAMBDA_TASK_ROOT"));
        assertEquals("/opt/wisp", env.get("LAMBDA_RUNTIME_DIR"));
        assertEquals("$LATEST", env.get("AWS_LAMBDA_FUNCTION_VERSION"));
        assertEquals(":UTC", LambdaEnvironment.of(Map.of(), Map.of(), "h", LocalDate.of(2026, 1, 1)).get("TZ"));
    }

    @Test
    void aPublishedVersionsPoolPodNamesItsVersion() {
        Map<String, String> function = Map.of("WISP_FUNCTION_NAME", "orders", "WISP_FUNCTION_VERSION", "3",
                "WISP_HANDLER", "a.B");
        Map<String, String> env = LambdaEnvironment.of(function, Map.of(), "pod-1", LocalDate.of(2026, 12, 5));
        assertEquals("3", env.get("AWS_LAMBDA_FUNCTION_VERSION"));
        assertEquals("2026/12/05/[3]pod-1", env.get("AWS_LAMBDA_LOG_STREAM_NAME"));
        assertEquals("orders", env.get("AWS_LAMBDA_FUNCTION_NAME"));

        // The pod's settings are the function's with these: its context names the same version.
        Map<String, String> all = new HashMap<>(function);
        all.putAll(env);
        Config config = Config.fromEnvironment(all);
        assertEquals("3", config.functionVersion());
        assertEquals("2026/12/05/[3]pod-1", config.logStreamName());
        assertEquals("arn:aws:lambda:us-east-1:default:function:orders:3", config.functionArn());
    }
}
