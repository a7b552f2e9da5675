package dev.wisp.runtime;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import java.net.URLDecoder;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Builds the API Gateway proxy event of an {@code X-Wisp-Event: http} call
 * (docs/runtime-contract.md), in the payload format {@code X-Wisp-Payload-Format} asks for:
 * {@code 1.0} (REST APIs) or {@code 2.0} (HTTP APIs, function URLs). What only the gateway knows
 * (route, path parameters, the caller's address and host) comes from its {@code X-Wisp-*}
 * headers, which never reach the handler; the body is text when it is UTF-8 of a textual type,
 * else base64.
 */
final class HttpEvents {

    /** {@code X-Wisp-Payload-Format} is neither 1.0 nor 2.0 (a 400). */
    static final class InvalidPayloadFormatException extends Exception {
        InvalidPayloadFormatException(String message) {
            super(message);
        }
    }

    private static final String STAGE = "$default";
    private static final String API_ID = "wisp";
    private static final DateTimeFormatter REQUEST_TIME =
            DateTimeFormatter.ofPattern("dd/MMM/yyyy:HH:mm:ss '+0000'", Locale.ENGLISH).withZone(ZoneOffset.UTC);

    private HttpEvents() {}

    /**
     * The caller's side of the request, which both payload formats are built from.
     *
     * @param headers the caller's headers: names lower-cased, no {@code x-wisp-*}, each with all
     *     its values, {@code host} the caller's
     */
    private record Request(Map<String, List<String>> headers, String host, String sourceIp, String route,
                           String resource, Map<String, String> pathParameters, String body,
                           boolean base64, long timeEpoch) {}

    /**
     * @param call the request (method, path, query, headers, id, peer, protocol)
     * @param body its body
     * @param accountId the account of the function's ARN ({@code requestContext.accountId})
     * @param nowMillis the epoch time of the request
     */
    static JsonObject build(Call call, byte[] body, String accountId, long nowMillis)
            throws InvalidPayloadFormatException {
        Map<String, String> wisp = new LinkedHashMap<>();
        Map<String, List<String>> headers = new LinkedHashMap<>();
        for (Map.Entry<String, List<String>> header : call.headers().entrySet()) {
            String name = header.getKey().toLowerCase(Locale.ROOT);
            List<String> values = header.getValue();
            if (values.isEmpty()) {
                continue;
            }
            if (name.startsWith("x-wisp-")) {
                wisp.put(name, values.get(values.size() - 1));
            } else {
                headers.computeIfAbsent(name, k -> new ArrayList<>()).addAll(values);
            }
        }
        String version = wisp.getOrDefault("x-wisp-payload-format", "1.0").trim();
        if (version.isEmpty()) {
            version = "1.0";
        }
        if (!version.equals("1.0") && !version.equals("2.0")) {
            throw new InvalidPayloadFormatException("X-Wisp-Payload-Format must be 1.0 or 2.0, got " + version);
        }
        Request request = callerRequest(call, body, wisp, headers, nowMillis);
        return version.equals("2.0") ? version2(call, request, accountId) : version1(call, request, accountId);
    }

    private static Request callerRequest(Call call, byte[] body, Map<String, String> wisp,
                                         Map<String, List<String>> headers, long nowMillis) {
        String host = blankToNull(wisp.get("x-wisp-host"));
        if (host == null) {
            host = blankToNull(first(headers, "x-forwarded-host").split(",")[0].strip());
        }
        if (host != null) {
            headers.put("host", List.of(host));
        } else {
            host = first(headers, "host");
        }
        String forwarded = first(headers, "x-forwarded-for");
        String sourceIp = blankToNull(wisp.get("x-wisp-source-ip"));
        if (sourceIp == null) {
            sourceIp = blankToNull(forwarded.substring(forwarded.lastIndexOf(',') + 1).strip());
        }
        if (sourceIp == null) {
            sourceIp = call.peer();
        }
        String route = wisp.getOrDefault("x-wisp-route", "").strip();
        if (route.isEmpty()) {
            route = STAGE;
        } else if (!route.contains(" ")) {
            route = "ANY " + route;
        }
        String resource = route.equals(STAGE) ? call.path() : route.substring(route.indexOf(' ') + 1);
        Map<String, String> pathParameters = null;
        String rawParameters = wisp.get("x-wisp-path-params");
        if (rawParameters != null && !rawParameters.isEmpty()) {
            pathParameters = new LinkedHashMap<>();
            for (Map.Entry<String, List<String>> parameter : parseQuery(rawParameters).entrySet()) {
                List<String> values = parameter.getValue();
                pathParameters.put(parameter.getKey(), values.get(values.size() - 1));
            }
        }
        String text = null;
        boolean base64 = false;
        if (body.length > 0) {
            text = isTextual(first(headers, "content-type")) ? utf8OrNull(body) : null;
            if (text == null) {
                text = Base64.getEncoder().encodeToString(body);
                base64 = true;
            }
        }
        return new Request(headers, host, sourceIp, route, resource, pathParameters, text, base64, nowMillis);
    }

    /** Payload format 1.0: API Gateway's REST API proxy integration event. */
    private static JsonObject version1(Call call, Request request, String accountId) {
        JsonObject event = new JsonObject();
        event.addProperty("version", "1.0");
        event.addProperty("resource", request.resource());
        event.addProperty("path", call.path());
        event.addProperty("httpMethod", call.method());
        JsonObject single = new JsonObject();
        JsonObject multi = new JsonObject();
        for (Map.Entry<String, List<String>> header : request.headers().entrySet()) {
            List<String> values = header.getValue();
            single.addProperty(header.getKey(), values.get(values.size() - 1));
            multi.add(header.getKey(), strings(values));
        }
        event.add("headers", single);
        event.add("multiValueHeaders", multi);
        Map<String, List<String>> query = parseQuery(call.rawQuery());
        if (query.isEmpty()) {
            event.add("queryStringParameters", JsonNull.INSTANCE);
            event.add("multiValueQueryStringParameters", JsonNull.INSTANCE);
        } else {
            JsonObject lastValues = new JsonObject();
            JsonObject allValues = new JsonObject();
            for (Map.Entry<String, List<String>> parameter : query.entrySet()) {
                List<String> values = parameter.getValue();
                lastValues.addProperty(parameter.getKey(), values.get(values.size() - 1));
                allValues.add(parameter.getKey(), strings(values));
            }
            event.add("queryStringParameters", lastValues);
            event.add("multiValueQueryStringParameters", allValues);
        }
        event.add("pathParameters", request.pathParameters() == null ? JsonNull.INSTANCE : object(request.pathParameters()));
        event.add("stageVariables", JsonNull.INSTANCE);

        JsonObject context = new JsonObject();
        context.addProperty("accountId", accountId);
        context.addProperty("apiId", API_ID);
        context.addProperty("domainName", request.host());
        context.addProperty("domainPrefix", domainPrefix(request.host()));
        context.addProperty("extendedRequestId", call.requestId());
        context.addProperty("httpMethod", call.method());
        JsonObject identity = new JsonObject();
        for (String field : new String[] {"accessKey", "accountId", "caller", "cognitoAuthenticationProvider",
                "cognitoAuthenticationType", "cognitoIdentityId", "cognitoIdentityPoolId", "principalOrgId"}) {
            identity.add(field, JsonNull.INSTANCE);
        }
        identity.addProperty("sourceIp", request.sourceIp());
        identity.add("user", JsonNull.INSTANCE);
        String userAgent = single.has("user-agent") ? single.get("user-agent").getAsString() : null;
        identity.addProperty("userAgent", userAgent);
        identity.add("userArn", JsonNull.INSTANCE);
        context.add("identity", identity);
        context.addProperty("path", call.path());
        context.addProperty("protocol", call.protocol());
        context.addProperty("requestId", call.requestId());
        context.addProperty("requestTime", REQUEST_TIME.format(Instant.ofEpochMilli(request.timeEpoch())));
        context.addProperty("requestTimeEpoch", request.timeEpoch());
        context.add("resourceId", JsonNull.INSTANCE);
        context.addProperty("resourcePath", request.resource());
        context.addProperty("stage", STAGE);
        event.add("requestContext", context);
        event.addProperty("body", request.body());
        event.addProperty("isBase64Encoded", request.base64());
        return event;
    }

    /**
     * Payload format 2.0: HTTP APIs' and function URLs' event. As they do, repeated headers and
     * query parameters are joined with commas, the Cookie header becomes {@code cookies}, and
     * what the request does not have is left out.
     */
    private static JsonObject version2(Call call, Request request, String accountId) {
        JsonObject headers = new JsonObject();
        JsonArray cookies = new JsonArray();
        for (Map.Entry<String, List<String>> header : request.headers().entrySet()) {
            if (header.getKey().equals("cookie")) {
                for (String value : header.getValue()) {
                    for (String cookie : value.split(";")) {
                        if (!cookie.isBlank()) {
                            cookies.add(cookie.strip());
                        }
                    }
                }
            } else {
                headers.addProperty(header.getKey(), String.join(",", header.getValue()));
            }
        }
        JsonObject query = new JsonObject();
        for (Map.Entry<String, List<String>> parameter : parseQuery(call.rawQuery()).entrySet()) {
            query.addProperty(parameter.getKey(), String.join(",", parameter.getValue()));
        }
        JsonObject event = new JsonObject();
        event.addProperty("version", "2.0");
        event.addProperty("routeKey", request.route());
        event.addProperty("rawPath", call.path());
        event.addProperty("rawQueryString", call.rawQuery() == null ? "" : call.rawQuery());
        if (!cookies.isEmpty()) {
            event.add("cookies", cookies);
        }
        event.add("headers", headers);
        if (query.size() > 0) {
            event.add("queryStringParameters", query);
        }
        JsonObject context = new JsonObject();
        context.addProperty("accountId", accountId);
        context.addProperty("apiId", API_ID);
        context.addProperty("domainName", request.host());
        context.addProperty("domainPrefix", domainPrefix(request.host()));
        JsonObject http = new JsonObject();
        http.addProperty("method", call.method());
        http.addProperty("path", call.path());
        http.addProperty("protocol", call.protocol());
        http.addProperty("sourceIp", request.sourceIp());
        http.addProperty("userAgent", headers.has("user-agent") ? headers.get("user-agent").getAsString() : "");
        context.add("http", http);
        context.addProperty("requestId", call.requestId());
        context.addProperty("routeKey", request.route());
        context.addProperty("stage", STAGE);
        context.addProperty("time", REQUEST_TIME.format(Instant.ofEpochMilli(request.timeEpoch())));
        context.addProperty("timeEpoch", request.timeEpoch());
        event.add("requestContext", context);
        if (request.body() != null) {
            event.addProperty("body", request.body());
        }
        if (request.pathParameters() != null) {
            event.add("pathParameters", object(request.pathParameters()));
        }
        event.addProperty("isBase64Encoded", request.base64());
        return event;
    }

    private static final Set<String> TEXT_TYPES = Set.of(
            "application/json", "application/xml", "application/javascript",
            "application/x-www-form-urlencoded", "application/graphql", "application/yaml");

    /** text/*, JSON, XML, form and a few more are text; anything else (or no type) is binary. */
    static boolean isTextual(String contentType) {
        if (contentType == null) {
            return false;
        }
        String mime = contentType.split(";", 2)[0].trim().toLowerCase(Locale.ROOT);
        return mime.startsWith("text/") || TEXT_TYPES.contains(mime)
                || mime.endsWith("+json") || mime.endsWith("+xml");
    }

    static Map<String, List<String>> parseQuery(String rawQuery) {
        Map<String, List<String>> parameters = new LinkedHashMap<>();
        if (rawQuery == null || rawQuery.isEmpty()) {
            return parameters;
        }
        for (String pair : rawQuery.split("&")) {
            if (pair.isEmpty()) {
                continue;
            }
            int eq = pair.indexOf('=');
            String name = decode(eq < 0 ? pair : pair.substring(0, eq));
            String value = eq < 0 ? "" : decode(pair.substring(eq + 1));
            parameters.computeIfAbsent(name, k -> new ArrayList<>()).add(value);
        }
        return parameters;
    }

    private static String first(Map<String, List<String>> headers, String name) {
        List<String> values = headers.get(name);
        return values == null || values.isEmpty() ? "" : values.get(0);
    }

    private static String blankToNull(String text) {
        return text == null || text.isBlank() ? null : text.strip();
    }

    private static String domainPrefix(String host) {
        int dot = host.indexOf('.');
        return dot < 0 ? host : host.substring(0, dot);
    }

    private static JsonObject object(Map<String, String> map) {
        JsonObject object = new JsonObject();
        map.forEach(object::addProperty);
        return object;
    }

    private static String decode(String text) {
        try {
            return URLDecoder.decode(text, StandardCharsets.UTF_8);
        } catch (IllegalArgumentException e) {
            return text;
        }
    }

    private static String utf8OrNull(byte[] body) {
        try {
            return StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(body))
                    .toString();
        } catch (CharacterCodingException e) {
            return null;
        }
    }

    private static JsonElement strings(List<String> values) {
        JsonArray array = new JsonArray(values.size());
        for (String value : values) {
            array.add(value);
        }
        return array;
    }
}
