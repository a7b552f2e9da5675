package dev.wisp.runtime;

import java.lang.reflect.Field;
import java.util.Collections;
import java.util.HashMap;
import java.util.Map;
import java.util.TimeZone;

/**
 * Changes the environment the JVM's code sees: {@code System.getenv}, and the environment
 * {@code ProcessBuilder} gives child processes. A JVM has no API for it (Java reads its
 * environment once, at start), but a pool pod's JVM starts before it has a function, and the
 * function's code reads its settings with {@code System.getenv} as in its own pod, and on Lambda.
 *
 * <p>{@code System.getenv()} is an unmodifiable view of the JDK's own map of the process's
 * environment ({@code java.lang.ProcessEnvironment}); that map is changed through the view's
 * wrapped map, which the runtime jar's manifest opens to it ({@code Add-Opens: java.base/java.util}).
 * The process's own environment ({@code /proc/self/environ}, what native code's {@code getenv}
 * reads) stays the pod's. The default time zone, which the JVM derived from {@code TZ} at start,
 * follows the new {@code TZ}.
 */
final class JvmEnvironment {

    private JvmEnvironment() {}

    /** Thrown when this JVM does not let the runtime change its environment view. */
    static final class Unavailable extends Exception {
        Unavailable(String message, Throwable cause) {
            super(message, cause);
        }
    }

    /** Sets {@code set} (null values remove a variable) in what {@code System.getenv} answers. */
    static void apply(Map<String, String> set) throws Unavailable {
        Map<String, String> view = writableView();
        for (Map.Entry<String, String> variable : set.entrySet()) {
            if (variable.getValue() == null) {
                view.remove(variable.getKey());
            } else {
                view.put(variable.getKey(), variable.getValue());
            }
        }
        if (set.containsKey("TZ")) {
            followTimeZone(set.get("TZ"));
        }
    }

    /** Removes {@code names} from what {@code System.getenv} answers. */
    static void remove(String... names) throws Unavailable {
        Map<String, String> none = new HashMap<>();
        for (String name : names) {
            none.put(name, null);
        }
        apply(none);
    }

    @SuppressWarnings("unchecked")
    private static Map<String, String> writableView() throws Unavailable {
        Map<String, String> unmodifiable = System.getenv();
        try {
            Field wrapped = unmodifiable.getClass().getDeclaredField("m");
            wrapped.setAccessible(true);
            Map<String, String> view = (Map<String, String>) wrapped.get(unmodifiable);
            // Proves the view writable before anything is changed through it.
            view.putAll(Collections.emptyMap());
            return view;
        } catch (ReflectiveOperationException | RuntimeException e) {
            throw new Unavailable("this JVM does not let the runtime set a function's environment "
                    + "(System.getenv): " + e, e);
        }
    }

    /** As the JVM does at start: {@code TZ} (a leading {@code :} dropped) names the zone. */
    private static void followTimeZone(String tz) {
        String id = tz == null ? "" : tz.strip();
        if (id.startsWith(":")) {
            id = id.substring(1);
        }
        if (id.startsWith("/usr/share/zoneinfo/")) {
            id = id.substring("/usr/share/zoneinfo/".length());
        }
        if (id.isEmpty()) {
            id = "UTC";
        }
        System.setProperty("user.timezone", id);
        TimeZone.setDefault(TimeZone.getTimeZone(id));
    }
}
