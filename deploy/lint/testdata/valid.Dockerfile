# expect: none
# A two-stage image that passes every rule.
FROM debian:bookworm AS build
WORKDIR /src
COPY . .
RUN scripts/install-deps && scripts/build
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libgrpc++1.51 \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/build/cli/tributary /usr/local/bin/tributary
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/tributary"]
