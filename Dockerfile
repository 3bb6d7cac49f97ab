# Detector image: the `highlights` CLI (detect, demo, eval, bench) on CPU.
# GPU workers build FROM an image with a CUDA or ROCm torch and install the same package on top.
FROM python:3.11-slim
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY detector ./detector
COPY storage ./storage
COPY highlights ./highlights
RUN pip install --no-cache-dir . && highlights params >/dev/null
RUN useradd --create-home highlights
USER highlights
WORKDIR /home/highlights
ENTRYPOINT ["highlights"]
CMD ["demo", "--out", "/home/highlights/demo"]
