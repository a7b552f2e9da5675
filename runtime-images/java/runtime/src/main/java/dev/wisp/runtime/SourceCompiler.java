package dev.wisp.runtime;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;

/**
 * Compiles a code directory that holds Java sources only (inline code and {@code files} code,
 * which wisp stores as {@code .java} files), so such functions run without a build step.
 *
 * <p>Sources are laid out by their {@code package} and public type name first (inline code is
 * stored as {@code Handler.java} whatever class it declares), compiled against the runtime's
 * class path (the handler API) and the dependency jars into
 * {@code $TMPDIR/wisp-java-classes-<hash of the sources>},
 * which a restarted container reuses. Needs a JDK: on a JRE the error says so.
 */
final class SourceCompiler {

    private static final Pattern PACKAGE = Pattern.compile("(?m)^\\s*package\\s+([\\w.]+)\\s*;");
    private static final Pattern PUBLIC_TYPE = Pattern.compile(
            "(?m)^\\s*public\\s+(?:(?:final|abstract|sealed|non-sealed|strictfp)\\s+)*"
                    + "(?:class|record|interface|enum|@interface)\\s+(\\w+)");

    private SourceCompiler() {}

    /** The {@code .java} files of {@code codeDir} (ConfigMap bookkeeping dirs skipped). */
    static List<Path> sources(Path codeDir) throws IOException {
        if (!Files.isDirectory(codeDir)) {
            return List.of();
        }
        try (Stream<Path> walk = Files.walk(codeDir, 16)) {
            return walk.filter(p -> p.getFileName().toString().endsWith(".java"))
                    .filter(p -> !hiddenPart(codeDir.relativize(p)))
                    .filter(Files::isRegularFile)
                    .sorted()
                    .toList();
        }
    }

    private static boolean hiddenPart(Path relative) {
        for (Path part : relative) {
            if (part.toString().startsWith(".")) {
                return true;
            }
        }
        return false;
    }

    /**
     * Compiles {@code sources}; returns the directory of the classes.
     *
     * @throws HandlerLoader.LoadException SyntaxError with javac's diagnostics, or
     *     CompilerNotAvailable on a JVM without {@code jdk.compiler}
     */
    static Path compile(Path codeDir, List<Path> sources, String classPath, Path workRoot)
            throws HandlerLoader.LoadException, IOException {
        List<String> texts = new ArrayList<>();
        for (Path source : sources) {
            texts.add(Files.readString(source, StandardCharsets.UTF_8));
        }
        Path out = workRoot.resolve("wisp-java-classes-" + hash(sources, texts, codeDir));
        if (Files.isRegularFile(out.resolve(".compiled"))) {
            return out.resolve("classes");
        }
        JavaCompiler compiler = ToolProvider.getSystemJavaCompiler();
        if (compiler == null) {
            throw new HandlerLoader.LoadException("CompilerNotAvailable", "the code directory holds Java "
                    + "sources (" + codeDir.relativize(sources.get(0)) + "), but this JVM has no compiler: "
                    + "build the function into a jar, or run it on a JDK image", null);
        }
        Path src = out.resolve("src");
        Path classes = out.resolve("classes");
        Files.createDirectories(classes);
        List<String> args = new ArrayList<>(List.of(
                "-d", classes.toString(), "-encoding", "UTF-8", "-proc:none", "-g", "-parameters",
                "-cp", classPath));
        Map<String, String> originals = new LinkedHashMap<>();
        for (int i = 0; i < sources.size(); i++) {
            Path laidOut = src.resolve(layout(texts.get(i), sources.get(i)));
            Files.createDirectories(laidOut.getParent());
            Files.writeString(laidOut, texts.get(i), StandardCharsets.UTF_8);
            args.add(laidOut.toString());
            originals.put(laidOut.toString(), codeDir.relativize(sources.get(i)).toString());
        }
        ByteArrayOutputStream diagnostics = new ByteArrayOutputStream();
        int status = compiler.run(null, diagnostics, diagnostics, args.toArray(String[]::new));
        if (status != 0) {
            // javac names the laid-out copies: name the user's files instead.
            String message = diagnostics.toString(StandardCharsets.UTF_8);
            for (Map.Entry<String, String> copy : originals.entrySet()) {
                message = message.replace(copy.getKey(), copy.getValue());
            }
            message = message.strip();
            throw new HandlerLoader.LoadException("SyntaxError",
                    "compiling the function's Java sources failed:\n" + message, null);
        }
        Files.writeString(out.resolve(".compiled"), "ok");
        return classes;
    }

    /** Where javac wants the file: {@code package/path/PublicType.java}. */
    static Path layout(String text, Path source) {
        Matcher pkg = PACKAGE.matcher(text);
        Matcher type = PUBLIC_TYPE.matcher(text);
        String name = type.find() ? type.group(1) + ".java" : source.getFileName().toString();
        return pkg.find() ? Path.of(pkg.group(1).replace('.', '/'), name) : Path.of(name);
    }

    private static String hash(List<Path> sources, List<String> texts, Path codeDir) {
        try {
            MessageDigest digest = MessageDigest.getInstance("SHA-256");
            for (int i = 0; i < sources.size(); i++) {
                digest.update(codeDir.relativize(sources.get(i)).toString().getBytes(StandardCharsets.UTF_8));
                digest.update((byte) 0);
                digest.update(texts.get(i).getBytes(StandardCharsets.UTF_8));
                digest.update((byte) 0);
            }
            digest.update(Runtime.version().toString().getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(digest.digest(), 0, 8);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
