"""An orders service on PostgreSQL for the monitoring-stack tests; no monitoring code in it.

Built like a real service: the routes live on an ``APIRouter`` mounted under ``/api``,
the database session is a dependency, and a domain exception is turned into a 503 by an
exception handler. ``DATABASE_URL`` is a SQLAlchemy URL (``postgresql+psycopg://...``).

- ``GET /api/orders/{order_id}``: one parameterized ``select``;
- ``GET /api/reports/{region}?delay_ms=N``: a report whose query waits ``N`` ms in the
  database (``pg_sleep``) and then filters by region: a slow request made of slow
  queries, each with bound parameters;
- ``GET /api/checkout``: the payment provider is down: a 503 from the handler.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import String, create_engine, func, select, text
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

engine = create_engine(os.environ["DATABASE_URL"], pool_size=5)
SessionLocal = sessionmaker(engine)


class Base(DeclarativeBase):
    pass


class Order(Base):
    __tablename__ = "stack_orders"
    id: Mapped[int] = mapped_column(primary_key=True)
    region: Mapped[str] = mapped_column(String(40))
    amount: Mapped[int]


Base.metadata.create_all(engine)


class PaymentProviderDown(Exception):
    """The payment provider did not answer."""


def db() -> Iterator[Session]:
    with SessionLocal() as session:
        yield session


DB = Annotated[Session, Depends(db)]
router = APIRouter(prefix="/api", tags=["orders"])


@router.get("/orders/{order_id}")
def get_order(order_id: int, session: DB) -> dict[str, object]:
    order = session.scalar(select(Order).where(Order.id == order_id))
    return {"id": order_id, "found": order is not None}


@router.get("/reports/{region}")
def report(region: str, session: DB, delay_ms: int = 0) -> dict[str, object]:
    session.execute(text("select pg_sleep(:seconds)"), {"seconds": delay_ms / 1000})
    total = session.scalar(select(func.count(Order.id)).where(Order.region == region))
    return {"region": region, "orders": total}


@router.get("/checkout")
def checkout() -> dict[str, str]:
    raise PaymentProviderDown("payment provider timed out")


app = FastAPI(title="stack-orders")
app.include_router(router)


@app.exception_handler(PaymentProviderDown)
async def provider_down(request: Request, exc: PaymentProviderDown) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=503)
