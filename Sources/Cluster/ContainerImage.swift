/// The image a Kubernetes plan runs: Forge itself, built from source on Debian with Swift and the
/// packages README's set-up line installs. Forge needs no image per task (tests run in
/// bubblewrap inside this one), so one image serves every step.
public enum ContainerImage {
    /// The Debian packages Forge needs at run time, as README's first command installs them.
    public static let aptPackages = ["git", "pkg-config", "libgit2-dev", "libsqlite3-dev", "libopenblas-dev",
                                     "bubblewrap", "python3-pip", "sqlite3", "util-linux"]

    /// Build from the repository root: `docker build -t forge:latest -f PLAN/Dockerfile .`
    public static let dockerfile = """
    # Forge's own image for `forge cluster plan --engine kubernetes`.
    # Build from a Forge checkout:  docker build -t forge:latest -f PLAN/Dockerfile .
    # swift:6.1-bookworm is Debian 12 with the Swift 6.1 toolchain.
    FROM swift:6.1-bookworm
    ENV DEBIAN_FRONTEND=noninteractive
    RUN apt-get update \\
     && apt-get install -y --no-install-recommends \(aptPackages.joined(separator: " ")) ca-certificates \\
     && rm -rf /var/lib/apt/lists/*
    # uv builds the tasks' Python environments; Debian's pip refuses system installs without the flag.
    RUN pip install --break-system-packages uv
    # Recipes/ is found beside the sources, so the checkout stays in the image.
    WORKDIR /opt/forge
    COPY . /opt/forge
    RUN swift build -c release && ln -s /opt/forge/.build/release/forge /usr/local/bin/forge
    # Interpreters for the tasks (uv looks in ~/.local/share/uv/python): add the versions your
    # repositories need, e.g.  RUN uv python install 3.8 3.11
    WORKDIR /
    ENTRYPOINT ["forge"]

    """
}
