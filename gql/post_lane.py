"""``POST /graphql`` handed straight to the GraphQL view, ahead of the framework's routing.

What FastAPI would do for the route (find it among every REST route, solve the context
dependency, make the sub-response) is done here directly, with the same objects: the
view, its context and the sub-response it merges into its reply. Every other request,
GET and subscriptions over WebSocket included, goes on to the full stack.
"""

from __future__ import annotations

from types import SimpleNamespace

from cross_web import HTTPException
from fastapi import BackgroundTasks, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from common.asgi import buffered_receive, unread_body
from gql.context import ContextFactory
from gql.fast_post import FastQueries, read_body
from gql.router import ExplorerRouter
from models.platform.sessions import RequestSession


class GraphQLPostLane:
    """Pure ASGI, inside the request pipeline, in front of the application's routes."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        router: ExplorerRouter,
        sessionmaker: async_sessionmaker[AsyncSession],
        path: str = "/graphql",
        fast: FastQueries | None = None,
    ) -> None:
        make_context = router.make_context
        if make_context is None:
            raise ValueError("the GraphQL router was built without its context factory")
        self.app = app
        self.router = router
        self.make_context: ContextFactory = make_context
        self.sessionmaker = sessionmaker
        self.path = path
        # Compiled queries answered without the view (see ``gql.fast_post``).
        self.fast = fast
        # What the access log and the metrics name the route by, as for the full stack.
        self.matched = SimpleNamespace(path_format=path)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or scope["path"] != self.path
            or scope.get("root_path")
        ):
            await self.app(scope, receive, send)
            return
        scope["route"] = self.matched
        if self.fast is not None:
            # The pipeline read the whole body already (under its size cap).
            body = unread_body(receive)
            if body is None:
                try:
                    body = await read_body(receive)
                except ConnectionAbortedError:
                    return  # the client left before sending its body
                receive = buffered_receive(body, receive)
            reply = await self.fast.answer(scope, body)
            if reply is not None:
                await reply(scope, receive, send)
                return
        request = Request(scope, receive)
        # The sub-response as FastAPI makes it: no length, no status until one is set.
        sub_response = Response()
        del sub_response.headers["content-length"]
        sub_response.status_code = None  # type: ignore[assignment]
        background = BackgroundTasks()
        async with RequestSession(self.sessionmaker) as session:
            context = self.make_context(request, session)
            context.request = request
            context.background_tasks = background
            context.response = sub_response
            # Strawberry reads it back as the sub-response, as its own route handler sets it.
            self.router.temporal_response = sub_response  # type: ignore[attr-defined]
            try:
                response = await self.router.run(request=request, context=context, root_value=None)
            except HTTPException as exc:  # as the framework's route answers it
                response = PlainTextResponse(exc.reason, status_code=exc.status_code)
        if background.tasks and response.background is None:
            response.background = background
        await response(scope, receive, send)
