package dev.wisp.runtime;

import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The threads that run handlers and serve HTTP exchanges.
 *
 * <p>On JDK 21 and later each task gets a virtual thread (found by reflection, so this compiles
 * and runs on 17); before that a pool of platform threads, as many as the Function's concurrency
 * (the permits in {@link Invocations} never let more calls in than that), started on demand and
 * grown by one for each thread a call that outlived its timeout still holds.
 */
final class Workers {

    /** How handler threads are made. */
    enum Kind {
        VIRTUAL,
        PLATFORM_POOL
    }

    private Workers() {}

    /** VIRTUAL on JDK 21+, unless {@code WISP_JAVA_VIRTUAL_THREADS=false}. */
    static Kind choose(int featureVersion, String override) {
        if ("false".equalsIgnoreCase(override)) {
            return Kind.PLATFORM_POOL;
        }
        return featureVersion >= 21 ? Kind.VIRTUAL : Kind.PLATFORM_POOL;
    }

    /** An executor of {@code kind} for up to {@code size} tasks at once. */
    static ExecutorService create(Kind kind, int size, String name) {
        if (kind == Kind.VIRTUAL) {
            try {
                Object builder = Thread.class.getMethod("ofVirtual").invoke(null);
                Class<?> builderType = Class.forName("java.lang.Thread$Builder");
                builder = builderType.getMethod("name", String.class, long.class).invoke(builder, name + "-", 0L);
                ThreadFactory factory = (ThreadFactory) builderType.getMethod("factory").invoke(builder);
                return (ExecutorService) Executors.class
                        .getMethod("newThreadPerTaskExecutor", ThreadFactory.class)
                        .invoke(null, factory);
            } catch (ReflectiveOperationException e) {
                // A JDK without virtual threads after all: fall through to the pool.
            }
        }
        ThreadPoolExecutor pool = new ThreadPoolExecutor(
                size, size, 60, TimeUnit.SECONDS, new LinkedBlockingQueue<>(), platformThreads(name));
        pool.allowCoreThreadTimeOut(true);
        return pool;
    }

    /**
     * Sets a platform pool's thread count (a no-op for virtual threads, which are unbounded):
     * the invoker grows the pool by one for each thread a runaway call holds, and shrinks it
     * back when the runaway returns.
     */
    static void resize(ExecutorService executor, int size) {
        if (executor instanceof ThreadPoolExecutor pool) {
            synchronized (pool) {
                if (size > pool.getMaximumPoolSize()) {
                    pool.setMaximumPoolSize(size);
                    pool.setCorePoolSize(size);
                } else {
                    pool.setCorePoolSize(size);
                    pool.setMaximumPoolSize(size);
                }
            }
        }
    }

    private static ThreadFactory platformThreads(String name) {
        AtomicInteger count = new AtomicInteger();
        return task -> {
            Thread thread = new Thread(task, name + "-" + count.getAndIncrement());
            thread.setDaemon(true);
            return thread;
        };
    }
}
