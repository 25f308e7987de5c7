"""The control plane end to end: a real grpc.aio server on loopback, a real local Ray, real jobs."""

from __future__ import annotations

import concurrent.futures
import json
import threading
import time
import urllib.request
from pathlib import Path
from typing import Iterator

import grpc
import pytest
from google.protobuf import text_format
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

from lc0train import job_pb2, net_pb2, service_pb2
from service._internal.state import JobState
from tests.service_harness import RunningServer, server_config, start_ray, state_name, tiny_spec, wait_for, watch
from workers.lc0net.store import save_imported
from workers.training.state import init_params

Q = service_pb2


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    start_ray()
    running = RunningServer(server_config(tmp_path_factory.mktemp("service"), metrics_port=0))
    yield running
    running.close()


def _short(data: dict[str, Path], steps: int = 20, *extra: str) -> job_pb2.JobSpec:
    return tiny_spec(data, f"training.total_steps={steps}", "training.train_avg_report_steps=5", "training.test_steps=1000",
                     "training.checkpoint_steps=10", *extra)


def test_health_and_reflection_are_served(server: RunningServer) -> None:
    health = health_pb2_grpc.HealthStub(server.channel)
    for name in ("", "lc0train.TrainingService"):
        assert health.Check(health_pb2.HealthCheckRequest(service=name)).status == health_pb2.HealthCheckResponse.SERVING
    reflect = reflection_pb2_grpc.ServerReflectionStub(server.channel)
    answers = reflect.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
    names = {s.name for answer in answers for s in answer.list_services_response.service}
    assert {"lc0train.TrainingService", "grpc.health.v1.Health"} <= names


def _invalid_requests(valid: job_pb2.JobSpec) -> Iterator[tuple[str, bytes]]:
    """(expected field path, serialized SubmitJobRequest) for 200+ broken submissions."""
    def request(spec: job_pb2.JobSpec) -> bytes:
        return Q.SubmitJobRequest(spec=spec).SerializeToString()

    def changed(**fields: object) -> job_pb2.JobSpec:
        spec = job_pb2.JobSpec()
        spec.CopyFrom(valid)
        for path, value in fields.items():
            message = spec
            *parents, leaf = path.split("__")
            for parent in parents:
                message = getattr(message, parent)
            setattr(message, leaf, value)
        return spec

    numeric = ["batch_size", "total_steps", "test_steps", "train_avg_report_steps", "checkpoint_steps", "shuffle_size",
               "warmup_steps", "max_to_keep"]
    for field in numeric:  # negative steps and sizes, each several ways
        for value in (-1, -2, -3, -100, -(2**31)):
            yield f"training.{field}", request(changed(**{f"training__{field}": value}))
    for field in ("embedding_size", "encoder_layers", "encoder_heads", "encoder_dff"):
        for value in (-1, -7, -(2**31)):
            yield f"model.{field}", request(changed(**{f"model__{field}": value}))
    for value in (98, 99, 12345, -5):  # enum numbers the schema does not have
        yield "training.optimizer", request(changed(training__optimizer=value))
        yield "model.input_type", request(changed(model__input_type=value))
    for value in (9, 50, 1000):
        yield "model.default_activation", request(changed(model__default_activation=value))
    no_model = job_pb2.JobSpec()
    no_model.CopyFrom(valid)
    no_model.ClearField("model")
    yield "model", request(no_model)
    no_training = job_pb2.JobSpec()
    no_training.CopyFrom(valid)
    no_training.ClearField("training")
    yield "training", request(no_training)
    for length in (129, 1000, 300_000):  # oversize names, the last beyond the spec size limit
        yield ("name" if length < 300_000 else "spec"), request(changed(name="x" * length))
    text = text_format.MessageToString(valid)
    broken_texts = [
        ("spec_text", text.replace("batch_size: 16", 'batch_size: "sixteen"')),  # wrong type
        ("spec_text", text.replace("total_steps: 20", "total_steps: 2.5")),
        ("spec_text", text.replace("optimizer: NADAMW", "optimizer: ADAGRAD")),  # unknown enum name
        ("spec_text", text + "\nno_such_field: 1\n"),  # unknown field
        ("spec_text", text + "\ntraining { unknown_knob: true }\n"),
        ("spec_text", "model {"),  # truncated
        ("spec_text", "}}}"),
        ("spec_text", "x" * 300_000),  # oversize
    ]
    for path, broken in broken_texts:
        for _ in range(3):
            yield path, Q.SubmitJobRequest(spec_text=broken).SerializeToString()
    wrong_wire = [  # SubmitJobRequest.spec (field 1) holding fields of the wrong wire type
        ("resources: wrong wire type", bytes([(1 << 3) | 2, 2, (6 << 3) | 0, 5])),  # resources sent as a varint
        ("model: wrong wire type", bytes([(1 << 3) | 2, 2, (3 << 3) | 0, 1])),  # model sent as a varint
        ("training: wrong wire type", bytes([(1 << 3) | 2, 2, (4 << 3) | 0, 9])),  # training sent as a varint
        ("#20: unknown field", bytes([(1 << 3) | 2, 3, 0xA0, 0x01, 1])),  # field 20, which JobSpec does not have
    ]
    for path, raw in wrong_wire:
        for _ in range(3):
            yield path, raw
    for garbage in (b"\xff\xff\xff", b"\x0a\xff", b"\x12\x05ab", bytes(range(256))):
        for _ in range(3):
            yield "<request>", garbage
    for _ in range(4):
        yield "config", b""  # neither spec nor spec_text
    spec = changed()
    spec.dataset.ClearField("input_train")
    for _ in range(4):
        yield "dataset.input_train", request(spec)
    for i in range(40):  # negative learning rates
        spec = changed()
        spec.training.ClearField("lr_values")
        spec.training.lr_values.append(-0.001 * (i + 1))
        yield "training.lr_values[0]", request(spec)
    for i in range(40):  # lr schedule mistakes
        spec = changed()
        spec.training.lr_boundaries.extend([100 + i, 50])
        yield "training.lr", request(spec)


def test_unexportable_nets_and_init_from_of_another_architecture_are_refused_at_submit(
        server: RunningServer, generated_data: dict[str, Path], tmp_path: Path) -> None:
    """Both were accepted and failed the job at start; `resolve()` checks them, so SubmitJob names the field."""
    for name, model in (("same", _short(generated_data).model), ("other", tiny_spec(generated_data, "model.embedding_size=24").model)):
        save_imported(tmp_path / name, model, init_params(model, seed=0).params, net_pb2.TrainingParams())
    refused = {
        "export.enabled": _short(generated_data, 20, "export.enabled=true", "model.embedding_dense_sz=0"),
        "init_from.path": _short(generated_data, 20, f"init_from.path={tmp_path / 'other'}"),
    }
    before = len(server.stub.ListJobs(Q.ListJobsRequest(page_size=500)).jobs)
    for path, spec in refused.items():
        for request in (Q.SubmitJobRequest(spec=spec), Q.SubmitJobRequest(spec_text=text_format.MessageToString(spec))):
            with pytest.raises(grpc.RpcError) as caught:
                server.stub.SubmitJob(request)
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert f"{path}: " in caught.value.details(), caught.value.details()
    assert "model embedding 16 vs 24" in caught.value.details()
    assert len(server.stub.ListJobs(Q.ListJobsRequest(page_size=500)).jobs) == before  # nothing stored
    for accepted in (_short(generated_data, 20, "export.enabled=true"), _short(generated_data, 20, f"init_from.path={tmp_path / 'same'}")):
        assert not server.stub.SubmitJob(Q.SubmitJobRequest(spec=accepted, validate_only=True)).created


def test_invalid_specs_get_invalid_argument_then_a_valid_job_succeeds(server: RunningServer, generated_data: dict[str, Path]) -> None:
    valid = _short(generated_data)
    call = server.channel.unary_unary("/lc0train.TrainingService/SubmitJob", request_serializer=None,
                                      response_deserializer=Q.SubmitJobResponse.FromString)
    cases = list(_invalid_requests(valid))
    assert len(cases) >= 200
    wrong = []
    for path, raw in cases:
        try:
            call(raw, timeout=10)
            wrong.append((path, "accepted"))
        except grpc.RpcError as err:
            if err.code() != grpc.StatusCode.INVALID_ARGUMENT or path not in (err.details() or ""):
                wrong.append((path, f"{err.code().name}: {err.details()}"))
    assert not wrong, wrong[:10]
    assert server.stub.ListJobs(Q.ListJobsRequest()).jobs == []  # nothing invalid was stored
    assert not server.stub.SubmitJob(Q.SubmitJobRequest(spec=valid, validate_only=True)).created

    # The server is still up and runs the next valid job to the end, streaming its reports.
    job = server.stub.SubmitJob(Q.SubmitJobRequest(spec=valid, request_id="good-1")).job
    states, train_steps = [], []
    for update in watch(server.stub, job.job_id):
        if update.HasField("job") and (not states or states[-1] != state_name(update.job)):
            states.append(state_name(update.job))
        if update.event.kind == "train":
            train_steps.append(update.event.step)
            assert update.event.metrics["total_loss"] > 0 and update.event.metrics["positions_per_s"] > 0
    assert states[-1] == "SUCCEEDED" and "RUNNING" in states, states
    assert states.index("RUNNING") < states.index("SUCCEEDED")
    assert train_steps == [5, 10, 15, 20]  # one report per reporting period (train_avg_report_steps=5)
    final = server.stub.GetJob(Q.GetJobRequest(job_id=job.job_id))
    assert final.step == 20 and final.spec.training.total_steps == 20
    assert sorted(int(p.name) for p in Path(final.checkpoint_dir).iterdir() if p.name.isdigit()) == [10, 20]
    events = server.stub.GetJobEvents(Q.GetJobEventsRequest(job_id=job.job_id, kinds=["train"])).events
    assert [e.step for e in events] == [5, 10, 15, 20]
    on_disk = [json.loads(line) for line in (Path(final.job_dir) / "events.jsonl").read_text().splitlines()]
    assert [e["step"] for e in on_disk if e["kind"] == "train"] == [5, 10, 15, 20]
    _assert_metrics_exported(server, job.job_id, on_disk)


def _assert_metrics_exported(server: RunningServer, job_id: str, events: list[dict]) -> None:
    """/metrics shows the job's last step, state and train losses, from the same reports (tests/test_prometheus.py
    checks every dashboard query through a real Prometheus)."""
    last_train = [e for e in events if e["kind"] == "train"][-1]["metrics"]
    deadline = time.monotonic() + 10
    while True:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.server.metrics_port}/metrics", timeout=10) as answer:
            samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
                       for family in text_string_to_metric_families(answer.read().decode()) for s in family.samples}
        if samples.get(("lc0_train_job_state", (("job", job_id), ("state", "SUCCEEDED")))) == 1.0 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert samples[("lc0_train_job_state", (("job", job_id), ("state", "SUCCEEDED")))] == 1.0
    assert samples[("lc0_train_job_state", (("job", job_id), ("state", "RUNNING")))] == 0.0
    assert samples[("lc0_train_step", (("job", job_id),))] == 20
    assert samples[("lc0_train_steps_total", (("job", job_id),))] == 20
    assert samples[("lc0_train_positions_total", (("job", job_id),))] == 20 * 16  # training.batch_size=16 (tests/conftest.SHRINK)
    key = ("lc0_train_loss", (("job", job_id), ("split", "train"), ("term", "total"), ("weights", "raw")))
    assert samples[key] == pytest.approx(last_train["total_loss"])
    assert samples[("lc0_train_positions_per_second", (("job", job_id),))] == pytest.approx(last_train["positions_per_s"])
    calls = ("lc0_train_grpc_requests_total", (("code", "INVALID_ARGUMENT"), ("method", "lc0train.TrainingService/SubmitJob")))
    assert samples[calls] >= 200  # the broken submissions above


def test_concurrent_submissions_with_one_request_id_create_one_job(server: RunningServer, generated_data: dict[str, Path]) -> None:
    # resources.hosts=2 asks for STRICT_SPREAD over two nodes; the local cluster has one, so the job stays QUEUED.
    spec = _short(generated_data, 20, "resources.hosts=2")
    barrier = threading.Barrier(8)

    def submit(_: int) -> Q.SubmitJobResponse:
        barrier.wait()
        return server.stub.SubmitJob(Q.SubmitJobRequest(spec=spec, request_id="same-key"))

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(submit, range(8)))
    assert len({r.job.job_id for r in responses}) == 1
    assert sum(r.created for r in responses) == 1
    other = _short(generated_data, 30, "resources.hosts=2")
    with pytest.raises(grpc.RpcError) as caught:
        server.stub.SubmitJob(Q.SubmitJobRequest(spec=other, request_id="same-key"))
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    job_id = responses[0].job.job_id
    time.sleep(1.0)  # several controller ticks: it cannot be placed
    assert state_name(server.stub.GetJob(Q.GetJobRequest(job_id=job_id))) == "QUEUED"
    cancelled = server.stub.CancelJob(Q.CancelJobRequest(job_id=job_id))
    assert state_name(cancelled) == "CANCELLED"
    with pytest.raises(grpc.RpcError) as caught:
        server.stub.CancelJob(Q.CancelJobRequest(job_id=job_id))
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_list_jobs_pages_and_filters_by_state(server: RunningServer, generated_data: dict[str, Path]) -> None:
    spec = _short(generated_data, 20, "resources.hosts=2")  # unplaceable here: they wait in the queue
    ids = [server.stub.SubmitJob(Q.SubmitJobRequest(spec=spec, request_id=f"page-{i}")).job.job_id for i in range(5)]
    pages, token = [], ""
    while True:
        page = server.stub.ListJobs(Q.ListJobsRequest(states=[Q.QUEUED], page_size=2, page_token=token))
        pages.append([j.job_id for j in page.jobs])
        token = page.next_page_token
        if not token:
            break
    assert pages == [ids[0:2], ids[2:4], ids[4:5]]
    for job_id in ids:
        server.stub.CancelJob(Q.CancelJobRequest(job_id=job_id))
    assert server.stub.ListJobs(Q.ListJobsRequest(states=[Q.QUEUED])).jobs == []
    cancelled = [j.job_id for j in server.stub.ListJobs(Q.ListJobsRequest(states=[Q.CANCELLED], page_size=500)).jobs]
    assert set(ids) <= set(cancelled)
    everything = server.stub.ListJobs(Q.ListJobsRequest(page_size=500)).jobs
    assert [j.job_id for j in everything] == sorted((j.job_id for j in everything), key=[j.job_id for j in everything].index)
    with pytest.raises(grpc.RpcError) as caught:
        server.stub.ListJobs(Q.ListJobsRequest(page_token="not-a-token"))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as caught:
        server.stub.GetJob(Q.GetJobRequest(job_id="no-such-job"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


def test_cancel_running_job_stops_with_its_checkpoint(server: RunningServer, generated_data: dict[str, Path]) -> None:
    spec = _short(generated_data, 100_000, "training.checkpoint_steps=0")  # would run for hours
    job = server.stub.SubmitJob(Q.SubmitJobRequest(spec=spec)).job
    wait_for(server.stub, job.job_id, lambda j: state_name(j) == "RUNNING" and j.step >= 5)
    requested = time.monotonic()
    assert server.stub.CancelJob(Q.CancelJobRequest(job_id=job.job_id)).cancel_requested
    final = wait_for(server.stub, job.job_id, lambda j: JobState(state_name(j)).is_terminal, timeout=60)
    assert state_name(final) == "CANCELLED", final.message
    assert time.monotonic() - requested < 30
    events = server.stub.GetJobEvents(Q.GetJobEventsRequest(job_id=job.job_id)).events
    checkpoints = [e.step for e in events if e.kind == "checkpoint"]
    assert checkpoints and checkpoints[-1] == final.step  # the cancel wrote a checkpoint at the last step
    directory = Path(final.checkpoint_dir) / str(final.step)
    assert directory.is_dir() and any(directory.iterdir())
    assert not [p for p in Path(final.checkpoint_dir).iterdir() if "tmp" in p.name]  # committed, no partial save
    assert json.loads([e for e in events if e.kind == "state"][-1].info_json)["state"] == "CANCELLED"


def test_unplaceable_jobs_wait_marked_unschedulable_without_blocking_the_queue(server: RunningServer, generated_data: dict[str, Path]) -> None:
    import ray

    hosts = len([n for n in ray.nodes() if n["Alive"]]) + 1  # one more host than the cluster has nodes
    # At the head of the queue (highest priority): it stays QUEUED, marked unschedulable, while the jobs behind it run.
    stuck = server.stub.SubmitJob(Q.SubmitJobRequest(spec=_short(generated_data, 20, f"resources.hosts={hosts}"), priority=100)).job
    job = server.stub.SubmitJob(Q.SubmitJobRequest(spec=_short(generated_data))).job
    final = wait_for(server.stub, job.job_id, lambda j: JobState(state_name(j)).is_terminal)
    assert state_name(final) == "SUCCEEDED", final.message
    waiting = server.stub.GetJob(Q.GetJobRequest(job_id=stuck.job_id))
    assert state_name(waiting) == "QUEUED", waiting.message
    assert waiting.message == (f"unschedulable: {hosts} host(s) need {hosts} Ray node(s) with {{'CPU': 1.0}} each; "
                               f"the cluster has {hosts - 1} such node(s) of {hosts - 1} alive")
    assert state_name(server.stub.CancelJob(Q.CancelJobRequest(job_id=stuck.job_id))) == "CANCELLED"
    deadline = time.monotonic() + 30  # its pending placement group is removed (it would be placed once nodes join)
    while not server.server.store.get(stuck.job_id).released:
        assert time.monotonic() < deadline, "the cancelled job's placement group was not released"
        time.sleep(0.1)
