# Gatehouse in a container: a static binary on an empty base, run as a
# non-root user (docs/service.md).
#   docker build -t gatehouse .
#   docker run -p 8080:8080 -v $PWD/gatehouse.yaml:/etc/gatehouse/gatehouse.yaml:ro gatehouse
# dist/test-image.sh runs what this builds without a container engine:
# keep the two in step.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
COPY third_party ./third_party
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/gatehouse ./cmd/gatehouse \
	&& mkdir -p /out/var/lib/gatehouse /out/tmp \
	&& chmod 1777 /out/tmp

FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/gatehouse /usr/bin/gatehouse
COPY --from=build --chown=65532:65532 /out/var/lib/gatehouse /var/lib/gatehouse
COPY --from=build /out/tmp /tmp
COPY dist/gatehouse-container.yaml /etc/gatehouse/gatehouse.yaml
# ACME certificates and the account in /var/lib/gatehouse/acme (mount a
# volume there to keep them); spool files in /tmp.
ENV XDG_DATA_HOME=/var/lib
USER 65532:65532
EXPOSE 8080 8443 8443/udp
ENTRYPOINT ["/usr/bin/gatehouse"]
CMD ["run", "-c", "/etc/gatehouse/gatehouse.yaml"]
