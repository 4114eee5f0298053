"""python -m orchestrator --config mesh.json"""
from mediamesh.service_runtime import ServiceContext, run_service
from orchestrator.servicer import bindings, runtime_for


async def engine(ctx: ServiceContext) -> None:
    await runtime_for(ctx).run(ctx)


async def stop(ctx: ServiceContext) -> None:
    await runtime_for(ctx).stop(ctx)


async def ready(ctx: ServiceContext) -> bool:
    return await runtime_for(ctx).ready(ctx)


if __name__ == "__main__":
    run_service("orchestrator", bindings, ready, background=engine, on_stop=stop)
