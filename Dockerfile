# One image for every service; the command picks the module: `docker run IMAGE gateway`,
# `docker run IMAGE vad_worker`, `dialog_worker`, `tools_worker`, `local_agent`.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: a virtualenv with exactly the locked, hash-checked dependencies ---------------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /build
COPY requirements-runtime.lock .
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --require-hashes --no-deps -r requirements-runtime.lock
COPY shared/ app/shared/
COPY gateway/ app/gateway/
COPY vad_worker/ app/vad_worker/
COPY dialog_worker/ app/dialog_worker/
COPY tools_worker/ app/tools_worker/
COPY convlog/ app/convlog/
# Compile now: the root filesystem is read-only at run time.
RUN /opt/venv/bin/python -m compileall -q app

# --- runtime: slim base, no build tools, non-root -------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 voicechat \
    && useradd --system --uid 10001 --gid voicechat --no-create-home --home-dir /nonexistent voicechat
COPY --from=build /opt/venv /opt/venv
COPY --from=build /build/app /app
WORKDIR /app
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 10001:10001
EXPOSE 8080 9101 9102 9103 9104 6565
ENTRYPOINT ["python", "-m"]
CMD ["gateway"]
